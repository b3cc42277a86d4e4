"""The command line: help, options, environment, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mockbatch import cli
from mockbatch.server import STARTUP_FAILURE as FAILED_START
from tests.serving import ServeProcess, free_port


def test_help_explains_every_option() -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--db", "--clock", "--time-scale", "--seed", "--start-time", "--api-key",
                   "--validating-seconds", "--request-seconds", "--finalizing-seconds", "--cancelling-seconds",
                   "--output-order", "--workers"):
        assert option in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-scale", "-2"], "time-scale: must be a positive number"),
        (["--start-time", "yesterday"], "start-time: expected unix seconds or an ISO 8601 time"),
        (["--port", "70000"], "port: must be between 0 and 65535"),
        (["--request-seconds", "-1"], "request-seconds: must be zero or more"),
    ],
)
def test_unusable_values_are_one_line_errors(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mockbatch", "serve", *args], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == cli.STARTUP_FAILURE == 2  # as click's own refusals (test_bad_choice_...)
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_workers_count_is_reported_by_click() -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--workers", "-1"])
    assert result.exit_code == 2 and "'--workers': -1 is not in the range 0<=x<=64" in result.output


def _children(pid: int) -> set[int]:
    return {int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()}


@pytest.mark.parametrize(("args", "expected"), [((), min(4, os.cpu_count() or 1)), (("--workers", "3"), 3),
                                                (("--workers", "0"), 0)])
def test_serve_starts_its_worker_processes_with_the_server(args: tuple[str, ...], expected: int) -> None:
    server = ServeProcess(*args).start()
    try:
        assert server.proc is not None
        deadline = time.monotonic() + 10
        while len(_children(server.proc.pid)) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert len(_children(server.proc.pid)) == expected
    finally:
        server.stop()


def test_bad_choice_is_reported_by_click() -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--clock", "sundial"])
    assert result.exit_code == 2 and "'sundial' is not one of 'real', 'manual'" in result.output


def test_port_in_use_is_a_one_line_error() -> None:
    server = ServeProcess().start()
    try:
        proc = subprocess.run([sys.executable, "-m", "mockbatch", "serve", "--port", str(server.port)],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == FAILED_START == 3  # usable settings, but the start failed
        assert proc.stderr.strip() == (f"mockbatch: error: cannot listen on 127.0.0.1:{server.port}: "
                                       "Address already in use")
    finally:
        server.stop()


def test_serve_reads_the_environment() -> None:
    port = free_port()
    server = ServeProcess(port=free_port(), env={"MOCKBATCH_PORT": str(port), "MOCKBATCH_CLOCK": "manual",
                                                 "MOCKBATCH_START_TIME": "1700000000"})
    server.args = [a for a in server.args if a not in ("--port", str(server.port))]
    server.port = port
    server.start()
    try:
        assert httpx.get(server.url + "/_mockbatch/clock").json() == {"mode": "manual", "now": 1_700_000_000}
    finally:
        server.stop()
