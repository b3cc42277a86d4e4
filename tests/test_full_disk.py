"""A full disk, played by the database's size cap (`max_db_bytes`: SQLite's max_page_count on every
connection, so it needs no root and no small filesystem): clean 507s in the OpenAI envelope, deleting frees
space, the server starts on a full database, and nothing is corrupted."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import openai
import pytest

from mockbatch.errors import StorageFull
from mockbatch.server import MockBatchServer
from mockbatch.store import Store
from tests.helpers import CHAT, chat_line, jsonl

CAP = 2 << 20
FULL = {"error": {"message": "The server's storage is full (database or disk is full). Delete files you no longer "
                             "need, or free disk space, and try again.",
                  "type": "server_error", "param": None, "code": "storage_full"}}


def fill(client: openai.OpenAI) -> list[str]:
    """Upload 256 KB files until the database is full; the ids of those that fit."""
    kept = []
    for i in range(100):
        try:
            kept.append(client.files.create(file=(f"f{i}.jsonl", jsonl([chat_line(0, user="x" * (256 << 10))])),
                                            purpose="batch").id)
        except openai.InternalServerError as exc:
            assert exc.status_code == 507 and exc.body == FULL["error"]
            assert exc.response.headers["x-should-retry"] == "false"
            assert exc.response.json() == FULL
            return kept
    raise AssertionError("the cap was never reached")


def orphans(db: str) -> tuple[int, str]:
    """Blobs no file or upload part points at, and SQLite's own integrity check."""
    with sqlite3.connect(db) as conn:
        stray = conn.execute("SELECT count(*) FROM blobs WHERE id NOT IN (SELECT blob_id FROM files) "
                             "AND id NOT IN (SELECT blob_id FROM upload_parts)").fetchone()[0]
        return stray, conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_uploads_and_creates_get_a_clean_507_and_deleting_frees_space(server_factory, tmp_path: Path) -> None:
    db = str(tmp_path / "full.sqlite3")
    server: MockBatchServer = server_factory(db=db, max_db_bytes=CAP)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    small = client.files.create(file=("small.jsonl", jsonl([chat_line(0)])), purpose="batch")
    kept = fill(client)
    assert 2 <= len(kept) <= 8
    assert orphans(db) == (0, "ok")  # the refused upload left nothing behind
    with pytest.raises(openai.InternalServerError) as refused:
        for _ in range(2000):  # each create is small: it fails once the last free page is gone
            client.batches.create(input_file_id=small.id, endpoint=CHAT, completion_window="24h")
    assert refused.value.status_code == 507 and refused.value.response.json() == FULL
    assert client.batches.list(limit=1).data  # reads keep working
    server.check()

    client.files.delete(kept[0])  # still possible on a full database, and it frees the space
    again = client.files.create(file=("again.jsonl", jsonl([chat_line(0, user="y" * (200 << 10))])),
                                purpose="batch")
    assert client.files.retrieve(again.id).bytes > 200 << 10
    server.stop()

    restarted = server_factory(db=db, max_db_bytes=CAP)  # starts on the full database
    client = openai.OpenAI(base_url=restarted.base_url, api_key="sk-test", max_retries=0)
    assert {f.id for f in client.files.list(limit=100).data} >= {small.id, again.id, *kept[1:]}
    assert client.files.content(again.id).content == jsonl([chat_line(0, user="y" * (200 << 10))])
    restarted.check()
    restarted.stop()
    assert orphans(db) == (0, "ok")


def test_a_full_database_says_so_not_that_a_rollback_failed(tmp_path: Path) -> None:
    async def scenario() -> str:
        async with Store.open(str(tmp_path / "s.sqlite3"), max_bytes=1 << 16) as store:
            with pytest.raises(StorageFull) as full:
                for _ in range(100):
                    async with store.transaction() as tx:
                        blob = await tx.new_blob()
                        await tx.append_chunk(blob, 0, b"x" * 20_000)
            async with store.transaction() as tx:  # the store is usable afterwards
                await tx.set_meta("after", "yes")
            return str(full.value)

    message = asyncio.run(scenario())
    assert "database or disk is full" in message and "rollback" not in message
