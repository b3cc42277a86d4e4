"""The scheduler: moves batches on as their transitions fall due, and runs the work transitions wait for.

Batches move when they are looked at (and, on the real clock, on a steady tick): `settle` applies every
transition that has fallen due, each stamped with its scheduled time. A transition that waits for work
(validation, writing output) starts that work as a job (jobs.Runner: a thread or a worker process) and stays
put until the result is stored; the result is kept in the batch's row, so a crash at any point just repeats
work. A job that raises is state too: it waits for a retry on the virtual clock, and after
lifecycle.JOB_ATTEMPTS failures its batch fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mockbatch import catalog, ids, jobs, lifecycle
from mockbatch.clock import Clock
from mockbatch.errors import NotFound, StorageFull, batch_not_found
from mockbatch.lifecycle import STAMP, TERMINAL, OutputKey, Plan, Progress, Status, Step
from mockbatch.objects import BATCH_FILE_TTL
from mockbatch.store import BatchRow, FileRow, Store, Tx
from mockbatch.validation import QUEUED_STATUSES, token_limit_error

log = logging.getLogger("mockbatch")

ACTIVE = tuple(s.value for s in Status if s not in TERMINAL)
TERMINAL_VALUES = tuple(s.value for s in TERMINAL)
MAX_FAILURES = 100  # unexpected exceptions kept for MockBatchServer.check(): a broken server reports its first


@dataclass
class Scheduler:
    store: Store
    clock: Clock
    runner: jobs.Runner
    models: catalog.Catalog
    seed: int
    enqueued_token_limit: int | None = None
    tick_seconds: float = 0.2
    # Told of each batch that ends, in the transaction that ends it (engine/deliveries.py makes its events there).
    ended: Callable[[Tx, BatchRow, float], Awaitable[None]] | None = None
    failures: list[BaseException] = field(default_factory=list, init=False)  # surfaced by MockBatchServer
    _jobs: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict, init=False)
    _job_errors: dict[str, lifecycle.JobError] = field(default_factory=dict, init=False)  # also in progress
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _ticker: asyncio.Task[None] | None = field(default=None, init=False)

    # -- lifetime -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.clock.mode == "real":
            self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
        await self._cancel_jobs()
        self.runner.close()

    async def forget(self) -> None:
        """Drop every job now (a reset): their results would be thrown away."""
        self._stop.set()
        self.runner.cancel()
        await self._cancel_jobs()
        self._stop = threading.Event()
        self._job_errors.clear()

    async def _cancel_jobs(self) -> None:
        for task in list(self._jobs.values()):
            task.cancel()
        await asyncio.gather(*self._jobs.values(), return_exceptions=True)
        self._jobs.clear()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.settle_all()
            except Exception as exc:  # a bug: keep ticking, and keep it visible
                log.exception("moving batches on failed")
                self.report(exc)

    def report(self, exc: BaseException) -> None:
        """An unexpected exception, kept for MockBatchServer.check() (bounded)."""
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(exc)

    # -- moving batches on --------------------------------------------------------------------
    async def settle_all(self, wait: bool = False) -> None:
        """Settle every batch in flight; with `wait`, until no work they wait for is left running."""
        while True:
            async with self.store.read() as tx:
                active = await tx.batch_ids_in(ACTIVE)
            for batch_id in active:
                with contextlib.suppress(NotFound):  # wiped by a reset since the list was read
                    await self.settle(batch_id)
            if not wait or not self._jobs:
                return
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def settle(self, batch_id: str, tenant: str | None = None) -> BatchRow:
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
                    await self.apply(tx, row, progress, plan, *due)
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
            self._start(row, progress, plan, due, "validate")
            return None
        if step.output is not None and not lifecycle.output_ready(progress, step.output):
            if step.at <= now or (self.clock.mode == "real" and step.at < math.inf):
                self._start(row, progress, plan, due, "output", step.output)  # early on the real clock
            return None
        at = max(step.at, progress.output.ready_at) if step.output and progress.output else step.at
        return None if at > now else (step, at)

    async def apply(self, tx: Tx, row: BatchRow, progress: Progress, plan: Plan, step: Step, at: float) -> None:
        """Make `step` happen at `at`: the lifecycle records it in `progress`, and the wire object follows."""
        lifecycle.enter(progress, plan, Status(row.status), step, at)
        b = row.batch
        row.status = b["status"] = step.to.value
        b[STAMP[step.to]] = int(at)
        if step.to == Status.IN_PROGRESS:
            assert progress.validated is not None
            b["model"] = progress.validated.model
            b["request_counts"] = {"total": progress.total, "completed": 0, "failed": 0}
        elif step.to == Status.FAILED:
            b["errors"] = {"object": "list", "data": failure_errors(progress)}
        if step.output is not None:
            await self._publish_output(tx, row, progress, at, plan.rules.empty_error_file)
        if step.to in TERMINAL:
            self._job_errors.pop(row.id, None)
            if progress.output:  # written for a step that never came (a cancel, a failure): dropped
                for blob in progress.output.blobs():
                    await tx.delete_blob(blob)
                progress.output.files = {}
            if step.to == Status.CANCELLED and step.output is None:
                b["request_counts"] = {"total": 0, "completed": 0, "failed": 0}  # it never reached in_progress
            input_file = await tx.get_file(row.tenant, b["input_file_id"], include_deleted=True)
            if input_file is not None and input_file.deleted and not await tx.file_in_use(
                    input_file.id, TERMINAL_VALUES, but=row.id):  # this batch's own row still says it is in flight
                await tx.delete_file(input_file.id)
            if self.ended is not None:
                await self.ended(tx, row, at)

    async def _publish_output(self, tx: Tx, row: BatchRow, progress: Progress, at: float,
                              empty_error_file: bool = False) -> None:
        """Turn the job's blobs into the batch's output and error files; an empty one is none, unless the batch's
        rules keep an empty error file (plan.Rules: Azure's successful job still names one)."""
        out = progress.output
        assert out is not None
        b = row.batch
        ttl = progress.output_ttl or BATCH_FILE_TTL
        hexid = b["id"].removeprefix("batch_")
        for kind, wire_field in (("output", "output_file_id"), ("error", "error_file_id")):
            blob = out.files[kind]
            if blob.bytes == 0 and not (kind == "error" and empty_error_file):
                await tx.delete_blob(blob.blob)
                continue
            seq = await tx.next_seq()
            f = FileRow(ids.file_id(self.seed, seq), row.tenant, blob.blob, blob.bytes, int(at), int(at) + ttl,
                        f"batch_{hexid}_{kind}.jsonl", "batch_output")
            await tx.insert_file(seq, f)
            b[wire_field] = f.id
        b["request_counts"] = out.counts
        b["usage"] = out.usage
        out.files = {}

    # -- jobs -----------------------------------------------------------------------------------
    def _start(self, row: BatchRow, progress: Progress, plan: Plan, due: float, kind: str,
               key: OutputKey | None = None) -> None:
        job = (row.id, kind)
        if job in self._jobs:
            return
        facts = jobs.BatchFacts(row.id, self.seed, row.batch["endpoint"], progress.input_blob or 0, plan.shuffle,
                                progress.in_progress or 0.0, plan.per_request, row.batch["model"], plan.lines,
                                self.models, plan.flavour)
        task = asyncio.create_task(self._run(kind, row.id, facts, key, progress.total, due))
        self._jobs[job] = task
        task.add_done_callback(lambda _: self._jobs.pop(job, None) if self._jobs.get(job) is task else None)

    async def _run(self, kind: str, batch_id: str, facts: jobs.BatchFacts, key: OutputKey | None,
                   total: int, due: float) -> None:
        stop = self._stop
        path = self.store.path
        result: jobs.Checked | jobs.Written
        try:
            if kind == "validate":
                result = await self.runner.validate(path, facts, stop)
            else:
                assert key is not None
                result = await self.runner.output(path, facts, key, total, stop)
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
                    if row and progress else None)
            if isinstance(result, jobs.Checked) and row and progress and step and step.needs_validation:
                await self._store_validated(tx, row, progress, result, ready_at)
            elif isinstance(result, jobs.Written) and row and progress and step and step.output == key:
                if result.line_error is not None:  # one line failed in the generator: it is a 500 in the error file
                    self.report(jobs.JobFailed(f"generating an output line of {batch_id} failed:\n{result.line_error}"))
                if progress.output:  # an output made for a step a cancel overtook: never published
                    for blob in progress.output.blobs():
                        await tx.delete_blob(blob)
                result.output.ready_at = ready_at
                progress.output = result.output
            else:  # the batch moved on (or was wiped) meanwhile: this result is stale
                if isinstance(result, jobs.Written):
                    for blob in result.output.blobs():
                        await tx.delete_blob(blob)
                return
            progress.job_error = None
            row.progress = progress.to_dict()
            await tx.update_batch(row)
        self._job_errors.pop(batch_id, None)
        self._jobs.pop((batch_id, kind), None)
        await self._settle_once(batch_id)

    async def _store_validated(self, tx: Tx, row: BatchRow, progress: Progress, checked: jobs.Checked,
                               ready_at: float) -> None:
        """Keep what validation found; a file within every check may still exceed the tenant's enqueued-token
        limit, counted now among the batches already queued."""
        validated, outcomes = checked.validated, checked.outcomes
        if not validated.errors and validated.model is not None:
            enqueued = await tx.enqueued_tokens(row.tenant, validated.model, QUEUED_STATUSES, row.id)
            over = token_limit_error(validated.model, validated.tokens, enqueued, self.enqueued_token_limit,
                                     self.models)
            if over is not None:
                validated.total, validated.errors, outcomes = 0, [over], b""
        validated.ready_at = ready_at
        progress.validated = validated
        await tx.set_outcomes(row.id, outcomes)

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
            self.report(exc)


def failure_errors(progress: Progress) -> list[dict[str, Any]]:
    """A failed batch's `errors.data`: its job's error after the last attempt, its input file's problems, or
    the control plane's move."""
    job = progress.job_error
    if job is not None and job.exhausted:
        what = "validate the input file of" if job.kind == "validate" else "write the output of"
        return [{"code": "server_error", "param": None, "line": None,
                 "message": f"mockbatch could not {what} this batch ({job.attempts} attempts): {job.message}"}]
    if progress.validated and progress.validated.errors:
        return list(progress.validated.errors)
    return [{"code": "invalid_request", "message": "The batch was failed through the control plane.",
             "param": None, "line": None}]
