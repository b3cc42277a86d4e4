"""The benchmark runs end to end at a tiny size and prints its table (timings are not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_runs_and_prints_its_table() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    table = run.stdout
    header = next((line for line in table.splitlines() if line.startswith("| figure")), "")
    assert "| measured" in header and "| target" in header and "| ratio" in header, table
    for figure in ("chat batch, 200 lines, end to end", "floor: parse input + write same-size output",
                   "retrieve p99 during the chat batch", "embeddings batch, 50 lines x 1536 floats",
                   "server peak RSS during the embeddings batch", "anthropic message batch, 100 requests, end to end",
                   "retrieve p99 during the anthropic batch", "server peak RSS during the anthropic batch",
                   "2 MB upload: server peak RSS growth",
                   "retrieve throughput / bare Starlette JSON route", "MockBatchServer ready",
                   "reset (median of 7, over HTTP)"):
        row = next((line for line in table.splitlines() if figure in line), None)
        assert row is not None, f"no row for {figure!r} in:\n{table}"
        assert row.count("|") == 7  # figure, measured, target, ratio, verdict, note
    chat = next(line for line in table.splitlines() if "chat batch, 200 lines" in line)
    assert "median of 3 (range " in chat, chat  # three batches ran one after another on one server
    anthropic = next(line for line in table.splitlines() if "anthropic message batch, 100 requests" in line)
    assert "median of 3 (range " in anthropic and "<= 10.0 s" in anthropic, anthropic
    assert "target(s) missed" in table
