"""The control plane's operations: the clock, resets, scenarios, forced moves; and the server's start."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from mockbatch import jobs, lifecycle
from mockbatch.clock import Anchor, Clock
from mockbatch.engine.batches import Batches
from mockbatch.engine.deliveries import Deliveries
from mockbatch.engine.files import Files
from mockbatch.engine.scenario import ActiveScenario
from mockbatch.engine.scheduler import Scheduler
from mockbatch.errors import Conflict, InvalidRequest, StorageFull
from mockbatch.lifecycle import Plan, Progress, Status
from mockbatch.scenarios import Scenario, quoted
from mockbatch.store import Store, Tx
from mockbatch.traffic import Traffic

log = logging.getLogger("mockbatch")


@dataclass
class Control:
    store: Store
    clock: Clock
    scheduler: Scheduler
    batches: Batches
    files: Files
    scenario: ActiveScenario
    traffic: Traffic
    deliveries: Deliveries
    start_time: float | None  # where a reset puts the clock (None: now)

    async def start(self, warm_workers: bool = False) -> None:
        """Carry on from the stored clock, drop what a crash left half-written, and move batches on."""
        try:
            async with self.store.transaction() as tx:
                saved = await tx.get_meta("clock")
                if saved is not None:
                    self.clock.resume(Anchor(**json.loads(saved)))
                await self._save_clock(tx)
                await tx.sweep_blobs(await tx.pending_blobs())
        except StorageFull:  # serve what is there: reads work, and deleting files frees space
            log.warning("the database is full: writes fail until files are deleted or disk space is freed")
        self.scheduler.start()
        self.deliveries.start()  # deliveries pending before a restart (or a kill -9) are sent as they fall due
        if warm_workers:  # they start in the background; the server answers at once
            self.scheduler.runner.expect(jobs.PROCESS_BYTES)
        await self.scheduler.settle_all()

    async def _save_clock(self, tx: Tx) -> None:
        await tx.set_meta("clock", json.dumps(asdict(self.clock.anchor)))

    async def reset(self) -> None:
        """Forget everything: files, batches, id sequences; the clock goes back to its start."""
        await self.scheduler.forget()
        await self.deliveries.forget()
        self.clock.restart(self.start_time)
        self.scenario.reset()
        self.files.forget_hidden()
        self.batches.forget()
        self.traffic.reset()
        try:
            async with self.store.transaction() as tx:
                await tx.wipe()
                await self._save_clock(tx)
        finally:
            self.deliveries.resume()

    async def advance(self, seconds: float) -> float:
        """Move the clock and wait until every batch has caught up with the new time, and every webhook delivery
        due by then has been attempted."""
        now = self.clock.advance(seconds)
        async with self.store.transaction() as tx:
            await self._save_clock(tx)
        await self.scheduler.settle_all(wait=True)
        await self.deliveries.flush()
        return now

    def use_scenario(self, name: str) -> Scenario:
        scenario = self.scenario.use(name)
        self.traffic.restart_faults()
        return scenario

    async def transition(self, batch_id: str, to: str) -> dict[str, Any]:
        """Move a batch to `to` now, as the control plane asks (for phases that wait for a manual move)."""
        try:
            target = Status(to)
        except ValueError:
            raise InvalidRequest(f"Unknown status {quoted(to)}; expected one of: {', '.join(Status)}.",
                                 param="to") from None
        row = await self.scheduler.settle(batch_id)
        if target == Status.CANCELLING:
            cancelled = await self.batches.cancel(row.tenant, batch_id)
            await self.deliveries.flush()  # with no time to cancel in, the batch has ended: its events are sent first
            return cancelled
        if target not in lifecycle.TRANSITIONS[Status(row.status)]:
            raise Conflict(f"Cannot move a batch from '{row.status}' to '{target}'.", param="to")
        validated = Progress.from_dict(row.progress).validated
        if target == Status.IN_PROGRESS and validated and validated.errors:
            raise Conflict("Cannot move this batch to 'in_progress': its input file failed validation.", param="to")
        async with self.store.transaction() as tx:
            fresh = await tx.get_batch(batch_id)
            assert fresh is not None
            progress = Progress.from_dict(fresh.progress)
            lifecycle.force(progress, Plan.from_dict(fresh.plan), target, self.clock.now())
            fresh.progress = progress.to_dict()
            await tx.update_batch(fresh)
        if validated is None and row.status == Status.VALIDATING:
            await self.scheduler.settle_all(wait=True)  # the forced move waits for validation to finish
        row = await self.scheduler.settle(batch_id)
        await self.deliveries.flush()  # a batch moved to its end: its events are sent before the answer
        return await self.batches.view(row)
