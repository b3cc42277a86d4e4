"""Crash recovery: `mockbatch serve` killed with SIGKILL at seeded random moments of a 10,000-line batch,
restarted on the same database each time. The batch completes, every request appears exactly once across
the output and error files, and files downloaded before a crash are byte-identical after it."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

import httpx

from tests.helpers import chat_line, jsonl
from tests.serving import ServeProcess, free_port

LINES = 10_000
TERMINAL = {"completed", "failed", "expired", "cancelled"}
AUTH = {"authorization": "Bearer sk-crash"}


def serve(db: Path, port: int) -> ServeProcess:
    return ServeProcess("--db", str(db), "--seed", "5", "--validating-seconds", "0", "--request-seconds", "0",
                        "--finalizing-seconds", "0", port=port).start()


def wait_for(url: str, batch_id: str, phase: str) -> str:
    """Poll until the batch has reached `phase` (or ended); its status then."""
    order = ["validating", "in_progress", "finalizing"]
    deadline = time.monotonic() + 60
    while True:
        status = httpx.get(f"{url}/v1/batches/{batch_id}", headers=AUTH, timeout=60).json()["status"]
        if phase == "any" or status in TERMINAL or status not in order or order.index(status) >= order.index(
                phase) or time.monotonic() > deadline:
            return str(status)
        time.sleep(0.005)


def download(url: str, file_id: str) -> bytes:
    r = httpx.get(f"{url}/v1/files/{file_id}/content", headers=AUTH, timeout=60)
    r.raise_for_status()
    return r.content


def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(2024)
    db, port = tmp_path / "crash.sqlite3", free_port()
    server = serve(db, port)
    try:
        content = jsonl([chat_line(i, n=6) for i in range(LINES)])  # six answers a line: writing takes a while
        f = httpx.post(server.url + "/v1/files", headers=AUTH, files={"file": ("big.jsonl", content)},
                       data={"purpose": "batch"}, timeout=60).json()
        batch = httpx.post(server.url + "/v1/batches", headers=AUTH, timeout=60, json={
            "input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h",
            "metadata": {"mockbatch_scenario": "partial_line_errors"}}).json()  # an error file too
        seen: dict[str, bytes] = {f["id"]: download(server.url, f["id"])}
        assert seen[f["id"]] == content

        # Crash right away (validating), then soon after the output starts being written (finalizing; each
        # restart writes it again from the start), then anywhere.
        statuses = []
        for phase in ("validating", "finalizing", "finalizing", "finalizing", "any"):
            wait_for(server.url, batch["id"], phase)
            time.sleep(rng.uniform(0.0, 0.25 if phase != "any" else 0.8))
            statuses.append(httpx.get(f"{server.url}/v1/batches/{batch['id']}", headers=AUTH).json()["status"])
            server.kill()
            server.stop()
            server = serve(db, port)
            for file_id, before in seen.items():  # what was downloaded before a crash is the same after it
                assert download(server.url, file_id) == before, file_id
            done = httpx.get(f"{server.url}/v1/batches/{batch['id']}", headers=AUTH).json()
            for key in ("output_file_id", "error_file_id"):
                if done[key] and done[key] not in seen:
                    seen[done[key]] = download(server.url, done[key])
        assert sum(status not in TERMINAL for status in statuses) >= 3, statuses  # most crashes hit work in flight

        deadline = time.monotonic() + 120
        while (done := httpx.get(f"{server.url}/v1/batches/{batch['id']}", headers=AUTH).json())["status"] \
                not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done["status"] == "completed", (statuses, done)
        out, err = download(server.url, done["output_file_id"]), download(server.url, done["error_file_id"])
        ids = [json.loads(line)["custom_id"] for line in (out + err).splitlines()]
        assert len(ids) == LINES and sorted(ids) == sorted(f"request-{i}" for i in range(LINES))
        assert done["request_counts"] == {"total": LINES, "completed": out.count(b"\n"), "failed": err.count(b"\n")}

        # One more crash after the end: the finished files stay byte for byte what they were.
        server.kill()
        server.stop()
        server = serve(db, port)
        assert download(server.url, done["output_file_id"]) == out
        for file_id, before in seen.items():
            assert download(server.url, file_id) == before
        assert httpx.get(f"{server.url}/v1/batches/{batch['id']}", headers=AUTH).json() == done
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:  # nothing half-written is left behind
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM chunks WHERE blob_id NOT IN (SELECT id FROM blobs)").fetchone() \
            == (0,)
        assert conn.execute("SELECT COUNT(*) FROM blobs WHERE id NOT IN (SELECT blob_id FROM files)").fetchone() \
            == (0,)
