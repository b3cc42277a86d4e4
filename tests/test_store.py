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


async def test_a_reset_with_deliveries_in_flight_stops_them_and_sends_none_after(tmp_path: Path) -> None:
    """Senders are cancelled mid-write and none starts while the wipe runs (a slow wipe stands for a big database):
    the store stays usable, nothing is reported as a failure, and nothing wiped is sent afterwards."""
    for run in range(5):
        await reset_under_deliveries(str(tmp_path / f"{run}.sqlite3"), 0.002 * run)


async def reset_under_deliveries(path: str, after: float) -> None:
    from mockbatch.app import build_engine
    from mockbatch.settings import Settings
    from mockbatch.store import DeliveryRow, Tx

    settings = Settings(db=path, clock="real", webhook_url="http://127.0.0.1:9/x", tick_seconds=0.01)
    async with Store.open(path) as store:
        engine = build_engine(store, settings)
        await engine.control.start()
        sent: list[tuple[bool, str]] = []
        wiped = False

        async def post(delivery: DeliveryRow, secrets: list[str]) -> tuple[int, None]:
            sent.append((wiped, delivery.id))
            return 200, None  # a fast local receiver

        engine.deliveries._post = post  # type: ignore[method-assign]
        async with store.transaction() as tx:
            for i in range(300):
                await tx.insert_delivery(DeliveryRow(f"wh_{i}", f"evt_{i}", "batch.completed", "t", None, "http://x",
                                                     b'{"data":{"id":"batch_x"}}', 0.0, "pending", 0.0))
        await asyncio.sleep(after)  # deliveries under way
        wipe = Tx.wipe

        async def slow_wipe(tx: Tx) -> None:
            nonlocal wiped
            await wipe(tx)
            wiped = True
            await asyncio.sleep(0.05)

        Tx.wipe = slow_wipe  # type: ignore[method-assign]
        try:
            await engine.control.reset()
        finally:
            Tx.wipe = wipe  # type: ignore[method-assign]
        async with store.transaction() as tx:
            await tx.set_meta("probe", "1")  # the connection is not stuck in an orphan transaction
        await asyncio.sleep(0.05)
        assert [d for was_wiped, d in sent if was_wiped] == []
        assert engine.scheduler.failures == []
        await engine.deliveries.stop()
        await engine.scheduler.stop()
