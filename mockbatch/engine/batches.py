"""Batches: create, retrieve, list and cancel, by tenant; every status change is the scheduler's (and so the
lifecycle's) to make."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mockbatch import ids, lifecycle
from mockbatch.catalog import Catalog
from mockbatch.clock import Clock
from mockbatch.engine.files import Files
from mockbatch.engine.scenario import ActiveScenario
from mockbatch.engine.scheduler import TERMINAL_VALUES, Scheduler
from mockbatch.errors import Conflict, InvalidRequest, batch_not_found
from mockbatch.lifecycle import Plan, Progress, Status, Validated
from mockbatch.objects import Batch, page
from mockbatch.plan import FLAVOURS
from mockbatch.store import BatchRow, Store
from mockbatch.validation import MAX_INPUT_BYTES, check_create, check_input_file, first_model

HISTORY_BATCHES = 10_000  # batches whose past views are kept for stale lists; the oldest are forgotten first


@dataclass
class Batches:
    store: Store
    clock: Clock
    seed: int
    scheduler: Scheduler
    files: Files
    scenario: ActiveScenario
    models: Catalog
    # batch id -> (virtual time, view) at each status change, for scenarios that serve stale lists
    _history: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict, init=False)

    async def create(self, tenant: str, params: dict[str, Any], scenario: str | None = None,
                     flavour: str = "openai") -> dict[str, Any]:
        """A new batch; `flavour` ("openai" or "azure", the surface it came through) is frozen onto its plan."""
        given, known = params.get("endpoint"), self.models.endpoints
        if FLAVOURS[flavour].short_endpoints and isinstance(given, str) and given not in known \
                and "/v1" + given in known:  # Azure's documented "/chat/completions" for the lines' "/v1/..."
            params = {**params, "endpoint": "/v1" + given}
        check_create(params, self.models)
        plan = self.scenario.plan((params.get("metadata") or {}).get("mockbatch_scenario"), scenario)
        plan = replace(plan, flavour=flavour)
        async with self.store.transaction() as tx:
            source = await tx.get_file(tenant, params["input_file_id"])
            if source is not None and self.files.hidden(tenant, source.id):
                raise InvalidRequest(f"Cannot find file {source.id}, or project proj_mockbatch does not have "
                                     "access to it.", param="file_id")
            if source is not None:  # purpose batch, at most 200 MB
                too_big = source.purpose == "batch" and source.bytes > MAX_INPUT_BYTES
                head = await tx.next_chunk(source.blob_id, -1) if too_big else None
                check_input_file(source.id, source.purpose, source.bytes, first_model(head[1]) if head else None)
            now = self.clock.now()
            seq = await tx.next_seq()
            batch = Batch(ids.batch_id(self.seed, seq, now), params["endpoint"], params["input_file_id"], int(now),
                          int(now) + int(plan.window), metadata=params.get("metadata"))
            ttl = (params.get("output_expires_after") or {}).get("seconds")
            progress = Progress(created=now, output_ttl=ttl, input_blob=source.blob_id if source else None)
            if source is None:  # the real API accepts the call and fails the batch (contract behaviour 2)
                progress.validated = Validated(0, None, [{
                    "code": "invalid_request", "param": "file_id", "line": None,
                    "message": f"Cannot find file {params['input_file_id']}, or organization org-mockbatch "
                               "does not have access to it."}])
            elif plan.fail_errors is not None:  # the scenario fails validation with its own errors
                progress.validated = Validated(0, None, list(plan.fail_errors))
            row = BatchRow(batch.id, tenant, batch.status, batch.to_dict(), progress.to_dict(), plan.to_dict())
            await tx.insert_batch(seq, row)
        row = await self.scheduler.settle(batch.id)
        return await self.view(row)

    async def retrieve(self, tenant: str, batch_id: str) -> dict[str, Any]:
        async with self.store.read() as tx:
            row = await tx.get_batch(batch_id, tenant)
        if row is None:
            raise batch_not_found(batch_id)
        if row.status not in TERMINAL_VALUES and _counts_polls(row.plan):
            async with self.store.transaction() as tx:  # a retrieve is a poll: phases may end after N of them
                row = await tx.get_batch(batch_id, tenant)
                if row is None:
                    raise batch_not_found(batch_id)
                if row.status not in TERMINAL_VALUES:
                    progress = Progress.from_dict(row.progress)
                    progress.polls += 1
                    row.progress = progress.to_dict()
                    await tx.update_batch(row)
        if row.status not in TERMINAL_VALUES:  # a finished batch has nothing left to settle
            row = await self.scheduler.settle(batch_id, tenant)
        return await self.view(row)

    async def list(self, tenant: str, after: str | None, limit: int, stale: float = 0.0) -> dict[str, Any]:
        """Newest first; with `stale`, each batch as it looked `stale` virtual seconds ago."""
        async with self.store.read() as tx:
            rows = await tx.list_batches(tenant, after, limit + 1)
        views = []
        for row in rows[:limit]:
            if row.status not in TERMINAL_VALUES:
                row = await self.scheduler.settle(row.id, tenant)
            views.append(self.as_of(row.id, await self.view(row), stale))
        return page(views, has_more=len(rows) > limit)

    def as_of(self, batch_id: str, view: dict[str, Any], stale: float) -> dict[str, Any]:
        """The batch as it looked `stale` virtual seconds ago (a scenario's stale_list fault); 0: as it is."""
        if stale <= 0:
            return view
        then = self.clock.now() - stale
        history = self._history.get(batch_id) or [(then, view)]
        return next((v for t, v in reversed(history) if t <= then), history[0][1])

    async def cancel(self, tenant: str, batch_id: str) -> dict[str, Any]:
        await self.scheduler.settle(batch_id, tenant)
        async with self.store.transaction() as tx:
            row = await tx.get_batch(batch_id, tenant)
            assert row is not None
            status = Status(row.status)
            progress = Progress.from_dict(row.progress)
            step = lifecycle.cancel_step(status, progress, self.clock.now())
            if step is not None:
                await self.scheduler.apply(tx, row, progress, Plan.from_dict(row.plan), step, step.at)
                row.progress = progress.to_dict()
                await tx.update_batch(row)
            elif status not in (Status.CANCELLING, Status.CANCELLED):
                raise Conflict(f"Cannot cancel a batch with status '{status}'.", headers={"x-should-retry": "false"})
        row = await self.scheduler.settle(batch_id, tenant)
        return await self.view(row)

    async def view(self, row: BatchRow) -> dict[str, Any]:
        """The wire object; request counts of a batch in flight follow the clock."""
        b = dict(row.batch)
        status = Status(row.status)
        if status in (Status.IN_PROGRESS, Status.FINALIZING, Status.CANCELLING) and "total" in b["request_counts"]:
            progress = Progress.from_dict(row.progress)
            if progress.in_progress is not None:
                async with self.store.read() as tx:
                    outcomes = await tx.get_outcomes(row.id)
                b["request_counts"] = lifecycle.request_counts(status, progress, Plan.from_dict(row.plan), outcomes,
                                                               self.clock.now())
        history = self._history.get(row.id)
        if history is None:
            if len(self._history) >= HISTORY_BATCHES:
                del self._history[next(iter(self._history))]
            history = self._history[row.id] = []
        if not history or history[-1][1]["status"] != b["status"]:
            history.append((self.clock.now(), b))  # at most one entry per status: bounded by the statuses
        return b

    def forget(self) -> None:
        self._history.clear()


def _counts_polls(plan: dict[str, Any]) -> bool:
    return any((plan.get(phase) or {}).get("polls") for phase in ("validating", "in_progress", "finalizing",
                                                                   "cancelling"))
