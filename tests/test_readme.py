"""Every ```python block of README.md runs as a user pastes it.

A block is run by what it is:
- a pytest file (it defines `test_...` functions): pytest runs it in a fresh process, with the plugin loaded through
  its entry point, and every test in it must pass;
- a conftest (fixtures, no tests): it is the conftest of a probe test that uses the plugin's fixtures with it;
- a script that talks to `mockbatch serve` on 127.0.0.1:8000: a `MockBatchServer` with the options its
  `# mockbatch serve ...` comment names (parsed by the CLI itself) runs on a free port, the block's URLs are
  pointed at it, and the block runs in a fresh interpreter;
- any other script: it runs in a fresh interpreter as it is.
A block may say more about its output (`PROMISES`). An HTML comment `<!-- not run: why -->` right before a block
skips it, saying why."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mockbatch import cli
from mockbatch.server import MockBatchServer

pytest_plugins = ["pytester"]

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"(?:^<!--\s*not run:\s*(?P<why>.*?)\s*-->\n)?^```python\n(?P<code>.*?)^```$", re.M | re.S)
LOCAL = "http://127.0.0.1:8000"
SERVE = re.compile(r"#\s*mockbatch serve\b(?P<args>[^(\n]*)")  # the options before any "(remark)"
STATUSES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")

PROBE = """
from mockbatch import MockBatchServer
from mockbatch.pytest_plugin import DEFAULT_SETTINGS

def test_the_conftest_settings_are_in_force(mockbatch, mockbatch_settings, mockbatch_client):
    assert mockbatch_settings != DEFAULT_SETTINGS
    assert mockbatch.settings == MockBatchServer(**mockbatch_settings).settings
    assert mockbatch_client.files.list().data == []
"""


def every_phase(stdout: str) -> None:
    """'Usage with the official SDK' promises that its loop sees every phase, then prints each result."""
    words = [line.split(" ", 1)[0] for line in stdout.splitlines()]
    seen = [word for word in words if word in STATUSES]
    assert list(dict.fromkeys(seen)) == ["validating", "in_progress", "finalizing", "completed"], stdout
    assert sorted(word for word in words if word.startswith("req-")) == sorted(f"req-{i}" for i in range(10)), stdout


PROMISES: dict[str, Callable[[str], None]] = {"usage-with-the-official-sdk": every_phase}


def blocks() -> list[Any]:
    """One param per block, named after its section (and its rank there, from the second on)."""
    text = README.read_text(encoding="utf-8")
    found, per_section = [], Counter[str]()
    for m in BLOCK.finditer(text):
        heading = re.findall(r"^#+ (.+)$", text[:m.start()], re.M)[-1]
        name = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
        per_section[name] += 1
        marks = [pytest.mark.skip(reason=f"README: not run: {m['why']}")] if m["why"] else []
        rank = per_section[name]
        found.append(pytest.param(m["code"], id=f"{name}-{rank}" if rank > 1 else name, marks=marks))
    return found


BLOCKS = blocks()


def test_the_readme_has_its_examples() -> None:
    ids = {p.id for p in BLOCKS}
    assert len(BLOCKS) >= 6 and set(PROMISES) <= ids, sorted(ids)


def run_script(code: str, cwd: Path) -> str:
    path = cwd / "block.py"
    path.write_text(code, encoding="utf-8")
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    proc = subprocess.run([sys.executable, str(path)], cwd=cwd, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, f"the block failed:\n{code}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("code", BLOCKS)
def test_block_runs_as_pasted(code: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    tests = len(re.findall(r"^(?:async )?def test_", code, re.M))
    if tests or "@pytest.fixture" in code:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        if tests:
            pytester.makepyfile(test_block=code)
        else:
            pytester.makeconftest(code)
            pytester.makepyfile(test_probe=PROBE)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
        result.assert_outcomes(passed=tests or 1)
        return
    if LOCAL in code:
        serve = SERVE.search(code)
        params = cli.serve.make_context("serve", shlex.split(serve["args"]) if serve else []).params
        settings = {k: v for k, v in params.items() if v not in (None, ()) and k not in ("host", "port")}
        with MockBatchServer(**settings) as server:
            stdout = run_script(code.replace(LOCAL, server.url), tmp_path)
    else:
        stdout = run_script(code, tmp_path)
    if (check := PROMISES.get(request.node.callspec.id)) is not None:
        check(stdout)
