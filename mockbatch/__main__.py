from mockbatch.cli import main

main()
