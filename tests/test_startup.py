"""Start-up: unusable settings are one-line refusals (exit status 2), and a database's saved clock is resumed
without surprises: repaired when it is impossible, never leaping ahead when the clock's mode changes."""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import subprocess
import sys
import time

import httpx
import openai
import pytest

from mockbatch import clock
from mockbatch.clock import EARLIEST, LATEST, MAX_SCALE, Anchor, Clock
from mockbatch.settings import Settings
from tests.helpers import chat_line, start_batch
from tests.serving import ServeProcess

JUNE = 1_748_736_000  # 2025-06-01T00:00:00Z
SCALE = "time-scale: must be a positive number up to 1000000, got "
START = "start-time: must be a time between the years 1 and 9999, got "


def refusal(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run `mockbatch serve`, expect the refusal, and return its one line."""
    proc = subprocess.run([sys.executable, "-m", "mockbatch", "serve", "--port", "0", *args], capture_output=True,
                          text=True, timeout=30, env={**os.environ, **(env or {})})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""  # never got as far as listening
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mockbatch: error: "), proc.stderr
    return lines[0].removeprefix("mockbatch: error: ")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--time-scale", "inf"], None, SCALE + "inf"),
        (["--time-scale", "1e308"], None, SCALE + "1e+308"),
        (["--time-scale", "nan"], None, SCALE + "nan"),
        (["--time-scale", "0"], None, SCALE + "0.0"),
        (["--time-scale", "-0.5"], None, SCALE + "-0.5"),
        (["--time-scale", "1000001"], None, SCALE + "1000001.0"),
        (["--start-time", "nan"], None, START + "nan"),
        (["--start-time", "inf"], None, START + "inf"),
        (["--start-time", "-inf"], None, START + "-inf"),
        (["--start-time", "253402300800"], None, START + "253402300800.0"),  # 10000-01-01T00:00:00Z
        (["--start-time", "9999-12-31T23:30:00-01:00"], None, START + "253402302600.0"),
        ([], {"MOCKBATCH_TIME_SCALE": "inf"}, SCALE + "inf"),
        ([], {"MOCKBATCH_TIME_SCALE": "0"}, SCALE + "0.0"),
        ([], {"MOCKBATCH_START_TIME": "nan"}, START + "nan"),
        ([], {"MOCKBATCH_START_TIME": "1e300"}, START + "1e+300"),
    ],
)
def test_unusable_clock_settings_are_refused(args: list[str], env: dict[str, str] | None, message: str) -> None:
    assert refusal(args, env) == message


@pytest.mark.parametrize("via", ["option", "env"])
@pytest.mark.parametrize("case", ["parent_is_a_file", "below_a_file", "a_directory", "not_a_database"])
def test_an_unusable_database_path_is_refused(tmp_path, case: str, via: str) -> None:
    (tmp_path / "plain").write_text("")
    (tmp_path / "junk.sqlite3").write_text("not sqlite at all\n" * 100)
    (tmp_path / "folder.sqlite3").mkdir()
    path, reason = {
        "parent_is_a_file": (tmp_path / "plain" / "db.sqlite3", f"{tmp_path / 'plain'} is not a directory"),
        "below_a_file": (tmp_path / "plain" / "sub" / "db.sqlite3", "Not a directory"),
        "a_directory": (tmp_path / "folder.sqlite3", "unable to open database file"),
        "not_a_database": (tmp_path / "junk.sqlite3", "file is not a database"),
    }[case]
    line = refusal(["--db", str(path)]) if via == "option" else refusal([], {"MOCKBATCH_DB": str(path)})
    assert line == f"db: cannot use {path}: {reason}"


def test_the_limits_themselves_are_accepted() -> None:
    assert Settings(time_scale=MAX_SCALE, start_time=LATEST).start_time == LATEST
    assert Settings(start_time=EARLIEST).start_time == EARLIEST


# -- the saved clock ------------------------------------------------------------------------------------------
NOW = 2_000_000_000.0  # the wall clock, frozen for the unit tests


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "wall", lambda: NOW)


@pytest.mark.parametrize(
    ("saved", "expected", "warning"),
    [
        # Impossible virtual times (or modes): a fresh start, from the configured --start-time.
        (Anchor("manual", math.nan, NOW, 1.0), JUNE, "it starts again at 2025-06-01T00:00:00Z"),
        (Anchor("real", math.inf, NOW, 1.0), JUNE, "it starts again at 2025-06-01T00:00:00Z"),
        (Anchor("manual", LATEST + 1, NOW, 1.0), JUNE, "it starts again at 2025-06-01T00:00:00Z"),
        (Anchor("sundial", JUNE + 50, NOW, 1.0), JUNE, "it starts again at 2025-06-01T00:00:00Z"),
        # A usable time but a broken real clock (scale inf from an older version, say): from the time saved.
        (Anchor("real", JUNE + 50, NOW - 10, math.inf), JUNE + 50, "it carries on from 2025-06-01T00:00:50Z"),
        (Anchor("real", JUNE + 50, NOW - 10, math.nan), JUNE + 50, "it carries on from 2025-06-01T00:00:50Z"),
        (Anchor("real", JUNE + 50, NOW - 10, -1.0), JUNE + 50, "it carries on from 2025-06-01T00:00:50Z"),
        (Anchor("real", JUNE + 50, math.nan, 1.0), JUNE + 50, "it carries on from 2025-06-01T00:00:50Z"),
        (Anchor("real", LATEST - 5, NOW - 10, 1.0), LATEST - 5, "it carries on from 9999-12-31T23:59:54Z"),
    ],
)
def test_an_impossible_saved_clock_is_repaired_with_a_warning(frozen: None, caplog: pytest.LogCaptureFixture,
                                                              saved: Anchor, expected: float, warning: str) -> None:
    c = Clock("manual", 1.0, JUNE)
    with caplog.at_level(logging.WARNING, logger="mockbatch"):
        c.resume(saved)
    assert c.now() == expected and c.anchor.mode == "manual"
    assert [r.getMessage() for r in caplog.records] == [
        f"clock: the database's saved clock is unusable ({saved!r}); {warning}"]


@pytest.mark.parametrize(
    ("mode", "saved", "expected"),
    [
        ("manual", Anchor("manual", JUNE + 7, 123.0, 1.0), JUNE + 7),
        ("real", Anchor("real", JUNE + 7, NOW - 10, 2.0), JUNE + 27),  # the downtime counts, at its scale
        ("manual", Anchor("real", JUNE + 7, NOW - 10, 2.0), JUNE + 27),
        ("real", Anchor("real", JUNE + 7, NOW - 10, 3.0), JUNE + 37),  # a new scale: from the time reached
    ],
)
def test_a_sound_saved_clock_carries_on_quietly(frozen: None, caplog: pytest.LogCaptureFixture, mode: str,
                                                saved: Anchor, expected: float) -> None:
    c = Clock(mode, 2.0, None)
    with caplog.at_level(logging.WARNING, logger="mockbatch"):
        c.resume(saved)
    assert c.now() == expected and c.anchor.mode == mode and not caplog.records


def test_a_manual_clock_resumed_on_the_real_one_carries_on_from_its_time(frozen: None,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    c = Clock("real", 1.0, None)  # no --start-time: the fresh clock would read the wall clock, years later
    with caplog.at_level(logging.WARNING, logger="mockbatch"):
        c.resume(Anchor("manual", JUNE + 4, 0.0, 1.0))
    assert c.anchor == Anchor("real", JUNE + 4, NOW, 1.0)
    assert [r.getMessage() for r in caplog.records] == [
        "clock: the database ran on the manual clock; the real clock carries on from its time, "
        "2025-06-01T00:00:04Z, so batches in flight keep their deadlines"]


def stderr_after_stop(server: ServeProcess) -> str:
    assert server.proc is not None and server.proc.stderr is not None
    server.proc.terminate()
    return server.proc.communicate(timeout=15)[1].decode()


def test_restarting_a_manual_clock_database_on_the_real_clock_keeps_batches_in_flight(tmp_path) -> None:
    db = str(tmp_path / "state.sqlite3")
    first = ServeProcess("--db", db, "--clock", "manual", "--start-time", "2025-06-01T00:00:00Z",
                         "--request-seconds", "3600").start()
    try:
        client = openai.OpenAI(base_url=first.url + "/v1", api_key="k", max_retries=0)
        batch = start_batch(client, [chat_line(i) for i in range(3)])
        first.advance(4)
        assert client.batches.retrieve(batch.id).status == "in_progress"
    finally:
        first.stop()
    second = ServeProcess("--db", db, port=first.port).start()  # the real clock, at scale 1, no --start-time
    try:
        now = httpx.get(second.url + "/_mockbatch/clock").json()
        assert now["mode"] == "real" and JUNE + 4 <= now["now"] < JUNE + 60  # not today's date
        b = client.batches.retrieve(batch.id)
        assert b.status == "in_progress" and b.expires_at == JUNE + 86_400
        err = stderr_after_stop(second)
    finally:
        second.stop()
    assert err.splitlines() == ["clock: the database ran on the manual clock; the real clock carries on from its "
                                "time, 2025-06-01T00:00:04Z, so batches in flight keep their deadlines"]


def test_a_database_holding_an_impossible_clock_is_repaired(tmp_path) -> None:
    db = str(tmp_path / "state.sqlite3")
    args = ("--db", db, "--clock", "manual", "--start-time", "2025-06-01T00:00:00Z")
    ServeProcess(*args).start().stop()
    broken = {"mode": "manual", "virtual": math.nan, "wall": time.time(), "scale": math.inf}
    with sqlite3.connect(db) as conn:  # what an older version given --time-scale inf could leave behind
        assert conn.execute("UPDATE meta SET value = ? WHERE key = 'clock'", (json.dumps(broken),)).rowcount == 1
    server = ServeProcess(*args).start()
    try:
        assert httpx.get(server.url + "/_mockbatch/clock").json() == {"mode": "manual", "now": JUNE}
        err = stderr_after_stop(server)
    finally:
        server.stop()
    assert err.splitlines() == [f"clock: the database's saved clock is unusable ({Anchor(**broken)!r}); it starts "
                                "again at 2025-06-01T00:00:00Z"]
