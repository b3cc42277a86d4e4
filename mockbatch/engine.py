"""Orchestration: the API's operations over the store, the clock and the worker threads.

Batches move when they are looked at (and, on the real clock, on a steady tick): `_settle` applies
every transition that has fallen due, each stamped with its scheduled time. A transition that waits
for work (validation, writing output) starts that work in a worker thread and stays put until the
result is stored; the result is kept in the batch's row, so a crash at any point just repeats work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from mockbatch import catalog, ids, jobs, lifecycle
from mockbatch.clock import Anchor, Clock
from mockbatch.errors import (
    Conflict,
    InvalidRequest,
    PayloadTooLarge,
    StorageFull,
    batch_not_found,
    file_not_found,
)
from mockbatch.lifecycle import STAMP, TERMINAL, OutputKey, Phase, Plan, Progress, Status, Step
from mockbatch.objects import BATCH_FILE_TTL, Batch, FileObject, page
from mockbatch.scenarios import Scenario, ScenarioBook
from mockbatch.settings import Settings
from mockbatch.store import CHUNK, BatchRow, FileRow, Store, Tx
from mockbatch.traffic import Traffic
from mockbatch.uploads import Uploads
from mockbatch.validation import (
    QUEUED_STATUSES,
    check_batch_head,
    check_create,
    check_filename,
    check_input_file,
    check_purpose,
    token_limit_error,
)

log = logging.getLogger("mockbatch")

MAX_FILE_BYTES = 512 * 1024 * 1024
ACTIVE = tuple(s.value for s in Status if s not in TERMINAL)
TERMINAL_VALUES = tuple(s.value for s in TERMINAL)


class Engine:
    def __init__(self, store: Store, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.seed = settings.seed
        self._runner = jobs.Runner(settings.workers)
        self._jobs: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._stop = threading.Event()
        self._ticker: asyncio.Task[None] | None = None
        self.traffic = Traffic(settings.seed)
        self.models = catalog.build(settings.models_file)
        self.scenarios = ScenarioBook(settings.scenarios_dir)
        self.scenario = self.scenarios.configure(settings.scenario)
        self._job_errors: dict[str, lifecycle.JobError] = {}  # batch id -> its failing job (also in its progress)
        self._hidden: dict[tuple[str, str], float] = {}  # (tenant, file id) -> virtual time it becomes visible
        self._history: dict[str, list[tuple[float, dict[str, Any]]]] = {}  # batch id -> views, for stale lists
        self.failures: list[BaseException] = []  # unexpected exceptions, surfaced by MockBatchServer
        self.uploads = Uploads(store, clock, settings.seed)

    # -- lifetime -----------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            async with self.store.transaction() as tx:
                saved = await tx.get_meta("clock")
                if saved is not None:
                    self.clock.resume(Anchor(**json.loads(saved)))
                await self._save_clock(tx)
                await tx.sweep_blobs(await tx.pending_blobs())
        except StorageFull:  # serve what is there: reads work, and deleting files frees space
            log.warning("the database is full: writes fail until files are deleted or disk space is freed")
        if self.clock.mode == "real":
            self._ticker = asyncio.create_task(self._tick())
        if self.settings.warm_workers:  # they start in the background; the server answers at once
            self._runner.expect(jobs.PROCESS_BYTES)
        await self.settle_all()

    async def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
        for task in list(self._jobs.values()):
            task.cancel()
        await asyncio.gather(*self._jobs.values(), return_exceptions=True)
        self._runner.close()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_seconds)
            try:
                await self.settle_all()
            except Exception as exc:  # a bug: keep ticking, and keep it visible
                log.exception("moving batches on failed")
                self._report(exc)

    async def _save_clock(self, tx: Tx) -> None:
        await tx.set_meta("clock", json.dumps(asdict(self.clock.anchor)))

    # -- control plane ------------------------------------------------------------------------
    async def reset(self) -> None:
        """Forget everything: files, batches, id sequences; the clock goes back to its start."""
        self._stop.set()
        self._runner.cancel()
        for task in list(self._jobs.values()):
            task.cancel()
        await asyncio.gather(*self._jobs.values(), return_exceptions=True)
        self._jobs.clear()
        self._stop = threading.Event()
        self.clock.restart(self.settings.start_time)
        self.scenario = self.scenarios.configured
        self._hidden.clear()
        self._history.clear()
        self.traffic.reset()
        async with self.store.transaction() as tx:
            await tx.wipe()
            await self._save_clock(tx)

    async def advance(self, seconds: float) -> float:
        """Move the clock and wait until every batch has caught up with the new time."""
        now = self.clock.advance(seconds)
        async with self.store.transaction() as tx:
            await self._save_clock(tx)
        await self.settle_all(wait=True)
        return now

    # -- scenarios ----------------------------------------------------------------------------
    def base_plan(self) -> Plan:
        """The server's own timings, which a scenario's phases override."""
        s = self.settings
        return Plan(Phase(s.validating_seconds), s.request_seconds, Phase(), Phase(s.finalizing_seconds),
                    Phase(s.cancelling_seconds), shuffle=s.output_order == "shuffled")

    def find_scenario(self, name: str, param: str | None = None) -> Scenario:
        self.scenarios.check_name(name, param)  # a plain name, never a path
        try:
            return self.scenarios.get(name)
        except KeyError:
            raise InvalidRequest(f"Unknown scenario '{name}'. Known scenarios: {', '.join(self.scenarios.names())}.",
                                 param=param, code="scenario_not_found") from None

    def pick_scenario(self, *names: str | None) -> Scenario:
        """The most specific scenario named (batch metadata, then request header), else the active one."""
        for name, param in zip(names, ("metadata.mockbatch_scenario", None), strict=False):
            if name:
                return self.find_scenario(name, param)
        return self.scenario

    def use_scenario(self, name: str) -> Scenario:
        self.scenario = self.find_scenario(name, "name")
        self.traffic.restart_faults()
        return self.scenario

    def hide_file(self, tenant: str, file_id: str, seconds: float) -> None:
        """Keep a just-uploaded file invisible to batches.create for a while, as the real API sometimes does."""
        self._hidden[(tenant, file_id)] = self.clock.now() + seconds

    # -- files --------------------------------------------------------------------------------
    async def create_file(self, tenant: str, filename: str, purpose: Any, content: AsyncIterator[bytes],
                          expires_after: dict[str, Any] | None = None) -> dict[str, Any]:
        purpose = check_purpose(purpose)
        check_filename(filename, purpose)  # purpose batch: a .jsonl file
        ttl = _file_ttl(expires_after)
        async with self.store.transaction() as tx:
            blob = await tx.new_blob()
        size = n = 0
        buffer = head = b""
        try:
            async for data in content:
                if len(head) < CHUNK:
                    head += data[: CHUNK - len(head)]
                size += len(data)
                if size > MAX_FILE_BYTES:
                    raise PayloadTooLarge(f"File is too large. The maximum size is {MAX_FILE_BYTES} bytes.",
                                          param="file")
                buffer += data
                while len(buffer) >= CHUNK:
                    async with self.store.transaction() as tx:
                        await tx.append_chunk(blob, n, buffer[:CHUNK])
                    buffer, n = buffer[CHUNK:], n + 1
            if purpose == "batch":
                check_batch_head(head, complete=size == len(head))
            async with self.store.transaction() as tx:
                if buffer:
                    await tx.append_chunk(blob, n, buffer)
                seq = await tx.next_seq()
                now = int(self.clock.now())
                if ttl is None and purpose == "batch":
                    ttl = BATCH_FILE_TTL
                row = FileRow(ids.file_id(self.seed, seq), tenant, blob, size, now,
                              None if ttl is None else now + ttl, filename, purpose)
                await tx.insert_file(seq, row)
        except BaseException:
            async with self.store.transaction() as tx:
                await tx.delete_blob(blob)
            raise
        return _file_object(row)

    def expect_upload(self, size: int) -> None:
        """An upload of about `size` bytes begins: if big, start the worker processes while it arrives (they
        take a few tenths of a second to start), so they are ready when its batch is validated."""
        self._runner.expect(size)

    async def get_file(self, tenant: str, file_id: str) -> dict[str, Any]:
        async with self.store.read() as tx:
            row = await tx.get_file(tenant, file_id)
        if row is None:
            raise file_not_found(file_id)
        return _file_object(row)

    async def list_files(self, tenant: str, purpose: str | None, after: str | None, limit: int,
                         order: str) -> dict[str, Any]:
        async with self.store.read() as tx:
            rows = await tx.list_files(tenant, purpose, after, limit + 1, ascending=order == "asc")
        return page([_file_object(r) for r in rows[:limit]], has_more=len(rows) > limit)

    async def delete_file(self, tenant: str, file_id: str) -> dict[str, Any]:
        async with self.store.transaction() as tx:
            row = await tx.get_file(tenant, file_id)
            if row is None:
                raise file_not_found(file_id)
            if await tx.file_in_use(file_id, TERMINAL_VALUES):
                await tx.mark_file_deleted(file_id)  # an in-flight batch still reads it; purged when it ends
            else:
                await tx.delete_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    async def file_content(self, tenant: str, file_id: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        async with self.store.read() as tx:
            row = await tx.get_file(tenant, file_id)
        if row is None:
            raise file_not_found(file_id)
        return _file_object(row), self.store.read_blob(row.blob_id)

    # -- batches ------------------------------------------------------------------------------
    async def create_batch(self, tenant: str, params: dict[str, Any], scenario: str | None = None) -> dict[str, Any]:
        check_create(params)
        plan = self.pick_scenario((params.get("metadata") or {}).get("mockbatch_scenario"), scenario).plan(
            self.base_plan())
        async with self.store.transaction() as tx:
            source = await tx.get_file(tenant, params["input_file_id"])
            if source is not None and self._hidden.get((tenant, source.id), -math.inf) > self.clock.now():
                raise InvalidRequest(f"Cannot find file {source.id}, or project proj_mockbatch does not have "
                                     "access to it.", param="file_id")
            if source is not None:
                check_input_file(source.id, source.purpose, source.bytes)  # purpose batch, at most 200 MB
            now = self.clock.now()
            seq = await tx.next_seq()
            batch = Batch(ids.batch_id(self.seed, seq, now), params["endpoint"], params["input_file_id"], int(now),
                          int(now) + int(plan.window), metadata=params.get("metadata"))
            ttl = (params.get("output_expires_after") or {}).get("seconds")
            progress = Progress(created=now, output_ttl=ttl, input_blob=source.blob_id if source else None)
            if source is None:  # the real API accepts the call and fails the batch (contract behaviour 2)
                progress.validated = {"total": 0, "model": None, "ready_at": 0.0, "errors": [{
                    "code": "invalid_request", "param": "file_id", "line": None,
                    "message": f"Cannot find file {params['input_file_id']}, or organization org-mockbatch "
                               "does not have access to it."}]}
            elif plan.fail_errors is not None:  # the scenario fails validation with its own errors
                progress.validated = {"total": 0, "model": None, "ready_at": 0.0, "errors": list(plan.fail_errors)}
            row = BatchRow(batch.id, tenant, batch.status, batch.to_dict(), progress.to_dict(), plan.to_dict())
            await tx.insert_batch(seq, row)
        row = await self._settle(batch.id)
        return await self._view(row)

    async def get_batch(self, tenant: str, batch_id: str) -> dict[str, Any]:
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
                    row.progress["polls"] = row.progress.get("polls", 0) + 1
                    await tx.update_batch(row)
        if row.status not in TERMINAL_VALUES:  # a finished batch has nothing left to settle
            row = await self._settle(batch_id, tenant)
        return await self._view(row)

    async def transition(self, batch_id: str, to: str) -> dict[str, Any]:
        """Move a batch to `to` now, as the control plane asks (for phases that wait for a manual move)."""
        try:
            target = Status(to)
        except ValueError:
            raise InvalidRequest(f"Unknown status '{to}'; expected one of: {', '.join(Status)}.", param="to") from None
        row = await self._settle(batch_id)
        if target == Status.CANCELLING:
            return await self.cancel_batch(row.tenant, batch_id)
        if target not in lifecycle.TRANSITIONS[Status(row.status)]:
            raise Conflict(f"Cannot move a batch from '{row.status}' to '{target}'.", param="to")
        validated = row.progress.get("validated")
        if target == Status.IN_PROGRESS and validated and validated["errors"]:
            raise Conflict("Cannot move this batch to 'in_progress': its input file failed validation.", param="to")
        async with self.store.transaction() as tx:
            fresh = await tx.get_batch(batch_id)
            assert fresh is not None
            fresh.progress["forced"] = target.value
            await tx.update_batch(fresh)
        if validated is None and row.status == Status.VALIDATING:
            await self.settle_all(wait=True)  # the forced move waits for validation to finish
        row = await self._settle(batch_id)
        return await self._view(row)

    async def list_batches(self, tenant: str, after: str | None, limit: int, stale: float = 0.0) -> dict[str, Any]:
        """Newest first; with `stale`, each batch as it looked `stale` virtual seconds ago."""
        async with self.store.read() as tx:
            rows = await tx.list_batches(tenant, after, limit + 1)
        views = []
        for row in rows[:limit]:
            if row.status not in TERMINAL_VALUES:
                row = await self._settle(row.id, tenant)
            view = await self._view(row)
            if stale > 0:
                then = self.clock.now() - stale
                history = self._history.get(row.id) or [(then, view)]
                view = next((v for t, v in reversed(history) if t <= then), history[0][1])
            views.append(view)
        return page(views, has_more=len(rows) > limit)

    async def cancel_batch(self, tenant: str, batch_id: str) -> dict[str, Any]:
        await self._settle(batch_id, tenant)
        async with self.store.transaction() as tx:
            row = await tx.get_batch(batch_id, tenant)
            assert row is not None
            status = Status(row.status)
            if status in lifecycle.CANCELLABLE:
                progress = Progress.from_dict(row.progress)
                now = max(self.clock.now(), _last_stamp(progress))
                progress.cancelling, progress.cancelled_from = now, status.value
                progress.cancel_ran = {Status.VALIDATING: 0, Status.FINALIZING: progress.total}.get(
                    status, lifecycle.lines_done(progress, Plan.from_dict(row.plan), now))
                progress.polls, progress.forced = 0, None
                row.batch["cancelling_at"] = int(now)
                row.status = row.batch["status"] = Status.CANCELLING.value
                row.progress = progress.to_dict()
                await tx.update_batch(row)
            elif status not in (Status.CANCELLING, Status.CANCELLED):
                raise Conflict(f"Cannot cancel a batch with status '{status}'.", headers={"x-should-retry": "false"})
        row = await self._settle(batch_id, tenant)
        return await self._view(row)

    # -- moving batches on --------------------------------------------------------------------
    async def settle_all(self, wait: bool = False) -> None:
        while True:
            async with self.store.read() as tx:
                active = await tx.batch_ids_in(ACTIVE)
            for batch_id in active:
                await self._settle(batch_id)
            if not wait or not self._jobs:
                return
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def _settle(self, batch_id: str, tenant: str | None = None) -> BatchRow:
        """Apply every transition due by now. On the manual clock work takes no virtual time, so wait for the
        work a due transition needs; on the real clock, answer at once and let the work catch up."""
        while True:
            row = await self._settle_once(batch_id, tenant)
            running = [t for (b, _), t in self._jobs.items() if b == batch_id]
            if not running or self.clock.mode == "real":
                return row
            await asyncio.gather(*running, return_exceptions=True)

    async def _settle_once(self, batch_id: str, tenant: str | None = None) -> BatchRow:
        """Apply every transition due by now; start the work the next one waits for."""
        now = self.clock.now()
        async with self.store.read() as tx:  # most looks find nothing due: no write, no wait for the lock
            row = await tx.get_batch(batch_id, tenant)
        if row is None:
            raise batch_not_found(batch_id)
        if self._due(row, Progress.from_dict(row.progress), Plan.from_dict(row.plan), now) is None:
            return row
        read = row
        try:
            async with self.store.transaction() as tx:
                row = await tx.get_batch(batch_id, tenant)
                if row is None:
                    raise batch_not_found(batch_id)
                plan = Plan.from_dict(row.plan)
                progress = Progress.from_dict(row.progress)
                changed = False
                while (due := self._due(row, progress, plan, now)) is not None:
                    await self._apply(tx, row, progress, *due)
                    changed = True
                if changed:
                    row.progress = progress.to_dict()
                    await tx.update_batch(row)
        except StorageFull:  # the batch moves on once there is room; until then it is answered as it stands
            return read
        return row

    def _due(self, row: BatchRow, progress: Progress, plan: Plan, now: float) -> tuple[Step, float] | None:
        """The next transition and its time, if it falls due by `now`; else None, once the work it waits
        for (validation, writing the output) has been started."""
        step = lifecycle.next_step(Status(row.status), progress, plan, now)
        if step is None:
            return None
        waits = step.needs_validation or (step.output is not None and not lifecycle.output_ready(progress, step.output))
        failing = self._job_errors.get(row.id) or progress.job_error
        if waits and failing is not None and failing.retry_at > now:
            return None  # its work failed a moment ago: tried again once the clock reaches the retry time
        # When the work runs, for the record should it fail: on the manual clock work takes no virtual time, so
        # it runs when due (its retry time, or its step's), however far one move jumps.
        due = now if self.clock.mode == "real" else min(now, failing.retry_at if failing else step.at)
        if step.needs_validation:
            self._start(row, progress, due, "validate")
            return None
        if step.output is not None and not lifecycle.output_ready(progress, step.output):
            if step.at <= now or (self.clock.mode == "real" and step.at < math.inf):
                self._start(row, progress, due, "output", step.output)  # start writing early on the real clock
            return None
        at = max(step.at, (progress.output or {}).get("ready_at") or 0.0) if step.output else step.at
        return None if at > now else (step, at)

    async def _apply(self, tx: Tx, row: BatchRow, progress: Progress, step: Step, at: float) -> None:
        b = row.batch
        row.status = b["status"] = step.to.value
        b[STAMP[step.to]] = int(at)
        progress.polls, progress.forced = 0, None
        validated = progress.validated or {}
        if step.to == Status.IN_PROGRESS:
            progress.in_progress = at
            b["model"] = validated["model"]
            b["request_counts"] = {"total": progress.total, "completed": 0, "failed": 0}
        elif step.to == Status.FAILED:
            b["errors"] = {"object": "list", "data": _failure_errors(progress)}
        elif step.to == Status.FINALIZING:
            progress.finalizing = at
        elif step.to == Status.CANCELLING:  # cancelled by the scenario, not by a client
            progress.cancelling, progress.cancelled_from = at, Status.IN_PROGRESS.value
            progress.cancel_ran = lifecycle.lines_done(progress, Plan.from_dict(row.plan), at)
        if step.output is not None:
            await self._publish_output(tx, row, progress, at)
        if step.to in TERMINAL:
            self._job_errors.pop(row.id, None)
            for blob in ((progress.output or {}).get("files") or {}).values():
                await tx.delete_blob(blob["blob"])  # written for a step that never came (a cancel, a failure)
            if progress.output:
                progress.output["files"] = {}
            if step.to == Status.CANCELLED and step.output is None:
                b["request_counts"] = {"total": 0, "completed": 0, "failed": 0}  # it never reached in_progress
            input_file = await tx.get_file(row.tenant, b["input_file_id"], include_deleted=True)
            if input_file is not None and input_file.deleted and not await tx.file_in_use(
                    input_file.id, TERMINAL_VALUES, but=row.id):  # this batch's own row still says it is in flight
                await tx.delete_file(input_file.id)

    async def _publish_output(self, tx: Tx, row: BatchRow, progress: Progress, at: float) -> None:
        """Turn the worker's blobs into the batch's output and error files."""
        out = progress.output
        assert out is not None
        b = row.batch
        ttl = progress.output_ttl or BATCH_FILE_TTL
        hexid = b["id"].removeprefix("batch_")
        for kind, field in (("output", "output_file_id"), ("error", "error_file_id")):
            blob = out["files"][kind]
            if blob["bytes"] == 0:
                await tx.delete_blob(blob["blob"])
                continue
            seq = await tx.next_seq()
            f = FileRow(ids.file_id(self.seed, seq), row.tenant, blob["blob"], blob["bytes"], int(at),
                        int(at) + ttl, f"batch_{hexid}_{kind}.jsonl", "batch_output")
            await tx.insert_file(seq, f)
            b[field] = f.id
        b["request_counts"] = out["counts"]
        b["usage"] = out["usage"]
        out["files"] = {}

    def _start(self, row: BatchRow, progress: Progress, due: float, kind: str, key: OutputKey | None = None) -> None:
        job = (row.id, kind)
        if job in self._jobs:
            return
        plan = Plan.from_dict(row.plan)
        facts = jobs.BatchFacts(row.id, self.seed, row.batch["endpoint"], progress.input_blob or 0, plan.shuffle,
                                progress.in_progress or 0.0, plan.per_request, row.batch["model"], plan.lines,
                                self.models)
        task = asyncio.create_task(self._run(kind, row.id, facts, key, progress.total, due))
        self._jobs[job] = task
        task.add_done_callback(lambda _: self._jobs.pop(job, None) if self._jobs.get(job) is task else None)

    async def _run(self, kind: str, batch_id: str, facts: jobs.BatchFacts, key: OutputKey | None,
                   total: int, due: float) -> None:
        stop = self._stop
        path = self.store.path
        try:
            if kind == "validate":
                result = await self._runner.validate(path, facts, stop)
            else:
                assert key is not None
                result = await self._runner.output(path, facts, key, total, stop)
        except jobs.Stopped:
            return
        except Exception as exc:  # a bug, a full disk: the batch's state says so, and the job waits to run again
            await self._job_failed(kind, batch_id, exc, due)
            return
        ready_at = self.clock.now() if self.clock.mode == "real" else 0.0
        async with self.store.transaction() as tx:
            row = await tx.get_batch(batch_id)
            progress = Progress.from_dict(row.progress) if row else None
            step = (lifecycle.next_step(Status(row.status), progress, Plan.from_dict(row.plan), self.clock.now())
                    if row else None)
            if kind == "validate" and row and progress and step and step.needs_validation:
                outcomes = result.pop("outcomes")
                over = None if result["errors"] else token_limit_error(  # the tenant's enqueued-token limit
                    result["model"], result["tokens"], await tx.enqueued_tokens(
                        row.tenant, result["model"], QUEUED_STATUSES, batch_id), self.settings.enqueued_token_limit,
                    self.models)
                if over is not None:
                    result, outcomes = {**result, "total": 0, "errors": [over]}, b""
                progress.validated = {**result, "ready_at": ready_at}
                await tx.set_outcomes(batch_id, outcomes)
            elif kind == "output" and row and progress and step and step.output == key:
                line_error = result.pop("line_error")
                if line_error is not None:  # one line failed in the generator: it is a 500 in the error file
                    self._report(jobs.JobFailed(f"generating an output line of {batch_id} failed:\n{line_error}"))
                for old in ((progress.output or {}).get("files") or {}).values():
                    await tx.delete_blob(old["blob"])  # an output made for a step a cancel overtook: unpublished
                progress.output = {**result, "ready_at": ready_at}
            else:  # the batch moved on (or was wiped) meanwhile: this result is stale
                for blob in (result.get("files") or {}).values():
                    await tx.delete_blob(blob["blob"])
                return
            progress.job_error = None
            row.progress = progress.to_dict()
            await tx.update_batch(row)
        self._job_errors.pop(batch_id, None)
        self._jobs.pop((batch_id, kind), None)
        await self._settle_once(batch_id)

    async def _job_failed(self, kind: str, batch_id: str, exc: Exception, now: float) -> None:
        """Record a failed job on its batch: it runs again after a backoff on the virtual clock, and after
        JOB_ATTEMPTS failures the batch fails. Reported once, the first time. The count is kept here too, so
        that a store that cannot take it (a full disk) still spaces the retries out. `now`: when it ran."""
        said = str(exc) if isinstance(exc, jobs.JobFailed) else f"{type(exc).__name__}: {exc}"
        message = said.splitlines()[0][:500] if said.strip() else type(exc).__name__
        before = error = self._job_errors.get(batch_id)
        try:
            async with self.store.transaction() as tx:
                row = await tx.get_batch(batch_id)
                if row is None or row.status in TERMINAL_VALUES:
                    return
                progress = Progress.from_dict(row.progress)
                # After a restart the stored count goes on.
                error = self._job_errors[batch_id] = lifecycle.job_failed(before or progress.job_error, kind, now,
                                                                          message)
                progress.job_error = error
                row.progress = progress.to_dict()
                await tx.update_batch(row)
        except StorageFull:
            error = self._job_errors[batch_id] = lifecycle.job_failed(before, kind, now, message)
        if error is not None and error.attempts == 1:
            log.error("%s job for %s failed", kind, batch_id, exc_info=exc)
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        """An unexpected exception, kept for MockBatchServer.check() (bounded: a broken server reports its first)."""
        if len(self.failures) < 100:
            self.failures.append(exc)

    async def _view(self, row: BatchRow) -> dict[str, Any]:
        """The wire object; request counts of a batch in flight follow the clock."""
        b = dict(row.batch)
        status = Status(row.status)
        if status in (Status.IN_PROGRESS, Status.FINALIZING, Status.CANCELLING) and "total" in b["request_counts"]:
            progress = Progress.from_dict(row.progress)
            plan = Plan.from_dict(row.plan)
            if progress.in_progress is not None:
                async with self.store.read() as tx:
                    outcomes = await tx.get_outcomes(row.id)
                b["request_counts"] = lifecycle.request_counts(status, progress, plan, outcomes, self.clock.now())
        history = self._history.setdefault(row.id, [])
        if not history or history[-1][1]["status"] != b["status"]:
            history.append((self.clock.now(), b))  # remembered for scenarios that serve stale lists
        return b


def _failure_errors(progress: Progress) -> list[dict[str, Any]]:
    """A failed batch's `errors.data`: its job's error after the last attempt, its input file's problems, or
    the control plane's move."""
    job = progress.job_error
    if job is not None and job.exhausted:
        what = "validate the input file of" if job.kind == "validate" else "write the output of"
        return [{"code": "server_error", "param": None, "line": None,
                 "message": f"mockbatch could not {what} this batch ({job.attempts} attempts): {job.message}"}]
    if progress.validated and progress.validated["errors"]:
        return list(progress.validated["errors"])
    return [{"code": "invalid_request", "message": "The batch was failed through the control plane.",
             "param": None, "line": None}]


def _counts_polls(plan: dict[str, Any]) -> bool:
    return any((plan.get(phase) or {}).get("polls") for phase in ("validating", "in_progress", "finalizing",
                                                                   "cancelling"))


def _last_stamp(progress: Progress) -> float:
    return max(t for t in (progress.created, progress.in_progress, progress.finalizing) if t is not None)


def _file_ttl(expires_after: dict[str, Any] | None) -> int | None:
    if not expires_after:
        return None
    if expires_after.get("anchor") != "created_at":
        from mockbatch.errors import invalid_value

        raise invalid_value(expires_after.get("anchor"), ["created_at"], "expires_after.anchor")
    try:
        seconds = int(expires_after.get("seconds"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidRequest("Invalid 'expires_after.seconds': expected an integer.",
                             param="expires_after.seconds", code="invalid_type") from None
    if not 3600 <= seconds <= 2_592_000:
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': expected a value between 3600 and 2592000, but got {seconds} instead.",
            param="expires_after.seconds", code="invalid_value")
    return seconds


def _file_object(row: FileRow) -> dict[str, Any]:
    return FileObject(row.id, row.bytes, row.created_at, row.filename, row.purpose, row.expires_at).to_dict()
