"""The batch state machine, pure: no I/O, no clock reads.

A batch's future is fixed by its plan (phase durations frozen at creation) and what has happened to it
(`Progress`). `next_step` names the next transition, when it is due, and the work it waits for
(validation of the input, or writing the output and error files). The engine applies steps; the
timestamps come from the schedule, so a manual clock gives the same bytes run after run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from mockbatch.plan import Phase, Plan


class Status(StrEnum):
    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


# A batch fails in validation; from any later phase only when the work it waits for keeps failing (a job
# whose attempts ran out, `JobError`) or when the control plane says so.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.VALIDATING: frozenset({Status.IN_PROGRESS, Status.FAILED, Status.CANCELLING}),
    Status.IN_PROGRESS: frozenset({Status.FINALIZING, Status.EXPIRED, Status.CANCELLING, Status.FAILED}),
    Status.FINALIZING: frozenset({Status.COMPLETED, Status.CANCELLING, Status.FAILED}),
    Status.CANCELLING: frozenset({Status.CANCELLED, Status.FAILED}),
    Status.FAILED: frozenset(),
    Status.COMPLETED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.CANCELLED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
CANCELLABLE = frozenset(s for s, nxt in TRANSITIONS.items() if Status.CANCELLING in nxt)

# The timestamp field each status sets on entry.
STAMP = {
    Status.IN_PROGRESS: "in_progress_at",
    Status.FINALIZING: "finalizing_at",
    Status.COMPLETED: "completed_at",
    Status.FAILED: "failed_at",
    Status.EXPIRED: "expired_at",
    Status.CANCELLING: "cancelling_at",
    Status.CANCELLED: "cancelled_at",
}


JOB_ATTEMPTS = 3  # a job (validation, writing output) is tried this often before its batch fails
JOB_BACKOFF = 1.0  # virtual seconds before the first retry; doubled for each next one


@dataclass
class JobError:
    """A job that raised: how often in a row, when last, when it may run again, and what it said."""

    kind: str  # "validate" or "output"
    attempts: int
    at: float
    retry_at: float
    message: str

    @property
    def exhausted(self) -> bool:
        return self.attempts >= JOB_ATTEMPTS



def job_failed(before: JobError | None, kind: str, at: float, message: str) -> JobError:
    """The error after one more failure of a `kind` job at `at` (one of another kind starts the count over)."""
    attempts = before.attempts + 1 if before is not None and before.kind == kind else 1
    # Past JOB_ATTEMPTS the batch fails; only a store that cannot record that (a full disk) retries on, at
    # most hourly, so that freeing space lets the batch carry on.
    return JobError(kind, attempts, at, at + min(JOB_BACKOFF * 2 ** (attempts - 1), 3600.0), message)


@dataclass(frozen=True)
class OutputKey:
    """Which output a terminal state needs: the first `ran` lines ran; the rest never did, for `reason`."""

    ran: int
    reason: str  # "completed", "expired" or "cancelled"


@dataclass
class Validated:
    """What validating the input found: the requests' count and model, or the errors that fail the batch."""

    total: int
    model: str | None  # the snapshot name
    errors: list[dict[str, Any]]
    tokens: int = 0  # estimated input tokens (the enqueued-token limit)
    ready_at: float = 0.0  # on the real clock, when the job finished: the phase does not end before


@dataclass
class OutputFile:
    blob: int
    bytes: int


@dataclass
class Output:
    """A written output, for the step `key` names: its blobs (until published as files), counts and usage."""

    key: tuple[int, str]  # OutputKey's (ran, reason)
    files: dict[str, OutputFile]  # "output", "error" -> the blob; emptied once they are files
    counts: dict[str, int]
    usage: dict[str, Any]
    ready_at: float = 0.0

    def blobs(self) -> list[int]:
        return [f.blob for f in self.files.values()]


@dataclass
class Progress:
    """What has happened to a batch, in virtual seconds (floats; the wire shows whole seconds)."""

    created: float
    in_progress: float | None = None
    finalizing: float | None = None
    cancelling: float | None = None
    cancelled_from: str | None = None
    input_blob: int | None = None  # where the input file's bytes are (kept even if the file is deleted)
    output_ttl: int | None = None  # `output_expires_after.seconds`, for the output and error files
    polls: int = 0  # retrieves since the current phase began
    forced: str | None = None  # a status asked for through the control plane
    forced_ran: int | None = None  # lines that had run when a forced expiry was asked for
    cancel_ran: int | None = None  # lines that had run when the cancel came
    validated: Validated | None = None
    output: Output | None = None
    job_error: JobError | None = None  # the work the next step waits for has been failing

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        """From the stored JSON (`to_dict`'s keys; older rows lack the newer fields, which default)."""
        validated, output, error = data.get("validated"), data.get("output"), data.get("job_error")
        return cls(**{
            **data,
            "validated": None if validated is None else Validated(**validated),
            "output": None if output is None else Output(
                tuple(output["key"]), {k: OutputFile(**f) for k, f in output["files"].items()}, output["counts"],
                output["usage"], output.get("ready_at") or 0.0),
            "job_error": None if error is None else JobError(**error),
        })

    @property
    def total(self) -> int:
        return self.validated.total if self.validated and not self.validated.errors else 0

    @property
    def last_stamp(self) -> float:
        """When the batch last changed phase (a cancel is never stamped before it)."""
        return max(t for t in (self.created, self.in_progress, self.finalizing) if t is not None)


@dataclass(frozen=True)
class Step:
    to: Status
    at: float
    needs_validation: bool = False
    output: OutputKey | None = field(default=None)


def lines_done(progress: Progress, plan: Plan, t: float) -> int:
    """How many lines (in processing order) have finished by virtual time t."""
    total = progress.total
    if progress.in_progress is None or t < progress.in_progress:
        return 0
    if plan.in_progress.polls:
        return total * min(progress.polls, plan.in_progress.polls) // plan.in_progress.polls
    if plan.per_request <= 0:
        return total
    return min(total, math.floor((t - progress.in_progress) / plan.per_request + 1e-9))


def _ends(phase: Phase, entered: float, progress: Progress, now: float) -> float:
    """When a phase entered at `entered` ends; infinity while it waits for polls or a manual move."""
    if phase.manual:
        return math.inf
    if phase.polls is not None:
        return now if progress.polls >= phase.polls else math.inf
    return entered + phase.seconds


def next_step(status: Status, progress: Progress, plan: Plan, now: float) -> Step | None:
    """The next transition for a batch in `status`, due at `Step.at` (infinity: not foreseeable); None once
    terminal. A status forced through the control plane is due at once."""
    forced = Status(progress.forced) if progress.forced else None
    if status in TERMINAL:
        return None
    if progress.job_error is not None and progress.job_error.exhausted:
        return Step(Status.FAILED, progress.job_error.at)
    if status == Status.VALIDATING:
        if progress.validated is None:
            return Step(Status.IN_PROGRESS, math.inf, needs_validation=True)
        target = Status.FAILED if progress.validated.errors else Status.IN_PROGRESS
        if forced is not None:
            return Step(forced, now)
        at = max(_ends(plan.validating, progress.created, progress, now), progress.validated.ready_at)
        return Step(target, at)
    if forced == Status.FAILED:
        return Step(Status.FAILED, now)
    if status == Status.IN_PROGRESS:
        assert progress.in_progress is not None
        if forced == Status.EXPIRED:  # with the lines run when it was asked: the output job's key stays put
            ran = lines_done(progress, plan, now) if progress.forced_ran is None else progress.forced_ran
            return Step(Status.EXPIRED, now, output=OutputKey(ran, "expired"))
        if forced == Status.FINALIZING:
            return Step(Status.FINALIZING, now)
        if plan.expire_fraction is not None:
            ran = math.floor(plan.expire_fraction * progress.total)
            at = progress.in_progress + ran * max(plan.per_request, 0.0)
            return Step(Status.EXPIRED, at, output=OutputKey(ran, "expired"))
        if plan.cancel_fraction is not None:
            ran = math.floor(plan.cancel_fraction * progress.total)
            return Step(Status.CANCELLING, progress.in_progress + ran * max(plan.per_request, 0.0))
        if plan.in_progress.manual or plan.in_progress.polls:
            return Step(Status.FINALIZING, _ends(plan.in_progress, progress.in_progress, progress, now))
        done_at = progress.in_progress + progress.total * max(plan.per_request, 0.0)
        expire_at = progress.created + plan.window
        if done_at <= expire_at or not plan.rules.expires_at_window:
            return Step(Status.FINALIZING, done_at)
        return Step(Status.EXPIRED, expire_at, output=OutputKey(lines_done(progress, plan, expire_at), "expired"))
    if status == Status.FINALIZING:
        assert progress.finalizing is not None
        at = now if forced == Status.COMPLETED else _ends(plan.finalizing, progress.finalizing, progress, now)
        return Step(Status.COMPLETED, at, output=OutputKey(progress.total, "completed"))
    if status == Status.CANCELLING:
        assert progress.cancelling is not None and progress.cancelled_from is not None
        at = now if forced == Status.CANCELLED else _ends(plan.cancelling, progress.cancelling, progress, now)
        if progress.cancelled_from == Status.VALIDATING:
            return Step(Status.CANCELLED, at)
        return Step(Status.CANCELLED, at, output=OutputKey(progress.cancel_ran or 0, "cancelled"))
    return None


def cancel_step(status: Status, progress: Progress, now: float) -> Step | None:
    """A client's cancel: to `cancelling` at once, or None where a batch cannot be cancelled."""
    return Step(Status.CANCELLING, max(now, progress.last_stamp)) if status in CANCELLABLE else None


def force(progress: Progress, plan: Plan, to: Status, now: float) -> None:
    """Record a move asked for through the control plane, due at once. An expiry keeps the lines run by now: on the
    real clock more would run while its output is written, and a key that moved would make it stale every time."""
    progress.forced = to.value
    if to == Status.EXPIRED:
        progress.forced_ran = lines_done(progress, plan, now)


def enter(progress: Progress, plan: Plan, came_from: Status, step: Step, at: float) -> None:
    """Record in `progress` that the batch left `came_from` by `step` at `at`: every status change, the
    scheduled, the forced and the cancels, is recorded here."""
    progress.polls, progress.forced, progress.forced_ran = 0, None, None
    if step.to == Status.IN_PROGRESS:
        progress.in_progress = at
    elif step.to == Status.FINALIZING:
        progress.finalizing = at
    elif step.to == Status.CANCELLING:  # lines done by then keep their results; the rest never run
        progress.cancelling, progress.cancelled_from = at, came_from.value
        progress.cancel_ran = {Status.VALIDATING: 0, Status.FINALIZING: progress.total}.get(
            came_from, lines_done(progress, plan, at))


def output_ready(progress: Progress, key: OutputKey) -> bool:
    out = progress.output
    return out is not None and out.key == (key.ran, key.reason)


def request_counts(status: Status, progress: Progress, plan: Plan, outcomes: bytes, now: float) -> dict[str, int]:
    """Counts a poller sees while lines are being processed; `outcomes[i]` is 1 when line i (in
    processing order) fails."""
    if status == Status.FINALIZING:
        done = progress.total
    elif progress.cancel_ran is not None:
        done = progress.cancel_ran
    else:
        done = lines_done(progress, plan, now)
    failed = outcomes[:done].count(1)
    return {"total": progress.total, "completed": done - failed, "failed": failed}
