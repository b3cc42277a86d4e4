"""What importing a module loads: the validator (the API's file checks, `mockbatch validate`) loads no generator
and no Faker, as loading them would cost it most of its start-up time; the token estimate is a leaf."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def loaded(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules under these prefixes that a fresh interpreter has loaded after `statement`."""
    code = f"{statement}; import sys; print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    return ast.literal_eval(run.stdout)


def test_the_validator_loads_no_generator_and_no_faker() -> None:
    assert loaded("import mockbatch.validation", ("faker", "mockbatch.generators")) == []


def test_the_token_estimate_is_a_leaf() -> None:
    assert loaded("import mockbatch.tokens", ("faker", "mockbatch")) == ["mockbatch", "mockbatch.tokens"]


def test_the_generators_still_find_the_estimate_where_they_did() -> None:
    from mockbatch import tokens
    from mockbatch.generators import base

    assert base.estimate_tokens is tokens.estimate_tokens
