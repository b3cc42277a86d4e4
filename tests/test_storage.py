"""No storage leaks: rows and blobs are counted in the database after sequences that once left them behind."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import openai

from tests.helpers import CHAT, chat_line, start_batch, upload


def count(db: str) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {"files": one("SELECT count(*) FROM files"),
                "deleted": one("SELECT count(*) FROM files WHERE deleted = 1"),
                "blobs": one("SELECT count(*) FROM blobs"),
                "stray": one("SELECT count(*) FROM blobs WHERE id NOT IN (SELECT blob_id FROM files) "
                             "AND id NOT IN (SELECT blob_id FROM upload_parts)"),
                "chunks": one("SELECT count(*) FROM chunks WHERE blob_id NOT IN (SELECT id FROM blobs)")}


def test_a_file_deleted_while_its_batch_runs_is_purged_when_it_ends(server_factory, tmp_path: Path) -> None:
    db = str(tmp_path / "s.sqlite3")
    server = server_factory(db=db)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    source = upload(client, [chat_line(i) for i in range(3)])
    shared = upload(client, [chat_line(i) for i in range(2)])
    batch = client.batches.create(input_file_id=source.id, endpoint=CHAT, completion_window="24h")
    first = client.batches.create(input_file_id=shared.id, endpoint=CHAT, completion_window="24h")
    server.advance(1.5)
    second = client.batches.create(input_file_id=shared.id, endpoint=CHAT, completion_window="24h")
    assert client.files.delete(source.id).deleted and client.files.delete(shared.id).deleted
    assert count(db)["deleted"] == 2  # still read by their batches
    server.advance(2)  # `batch` and `first` end; `second` still reads the shared file
    assert client.batches.retrieve(batch.id).status == "completed"
    assert client.batches.retrieve(first.id).status == "completed"
    assert client.batches.retrieve(second.id).status != "completed"
    assert count(db)["deleted"] == 1
    server.advance(3600)
    assert client.batches.retrieve(second.id).status == "completed"
    # Left: the three batches' output files, nothing deleted, no stray blob or chunk.
    assert count(db) == {"files": 3, "deleted": 0, "blobs": 3, "stray": 0, "chunks": 0}
    server.check()


def test_output_written_before_a_cancel_while_finalizing_is_purged(server_factory, tmp_path: Path) -> None:
    db = str(tmp_path / "c.sqlite3")
    # On the real clock the output is written as soon as the batch starts finalizing, long before it is due.
    server = server_factory(db=db, clock="real", validating_seconds=0, request_seconds=0, finalizing_seconds=3600,
                            cancelling_seconds=0)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    batch = start_batch(client, [chat_line(i) for i in range(5)])
    deadline = time.monotonic() + 20
    while count(db)["stray"] < 1:  # the completed output, not yet a file
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.batches.retrieve(batch.id).status == "finalizing"
    client.batches.cancel(batch.id)
    while (batch := client.batches.retrieve(batch.id)).status != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert batch.output_file_id is not None and batch.error_file_id is None
    assert count(db) == {"files": 2, "deleted": 0, "blobs": 2, "stray": 0, "chunks": 0}  # input and output
    server.check()
