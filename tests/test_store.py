"""The store under the engine's feet: a unit of work that is cancelled (a reset stopping a job or a webhook
delivery mid-write) leaves the shared connection usable, and a reset keeps the size cap every connection reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mockbatch.store import BlobIO, Store


async def test_a_cancelled_unit_of_work_leaves_the_connection_usable(tmp_path: Path) -> None:
    async with Store.open(str(tmp_path / "s.sqlite3")) as store:
        async def unit(value: str) -> None:
            async with store.transaction() as tx:
                await tx.set_meta("k", value)

        for ticks in range(4):  # cancelled while BEGIN, the write or COMMIT is on aiosqlite's thread
            task = asyncio.create_task(unit(f"cancelled-{ticks}"))
            for _ in range(ticks):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0.05)  # what was queued has run
            assert not store.db.in_transaction
            await unit("next")  # the next unit begins as usual
            async with store.read() as tx:
                assert await tx.get_meta("k") == "next"


async def test_a_wipe_keeps_the_size_cap_for_every_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    async with Store.open(path, max_bytes=10_000_000) as store:
        capped = BlobIO(path).conn.execute("PRAGMA max_page_count").fetchone()[0]
        async with store.transaction() as tx:
            await tx.set_meta("seq", "7")
            await tx.wipe()
        blobs = BlobIO(path)
        assert blobs.conn.execute("PRAGMA max_page_count").fetchone()[0] == capped < 1 << 20
        async with store.read() as tx:
            assert await tx.get_meta("seq") is None  # the sequences start again
