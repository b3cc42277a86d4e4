"""The pure state machine: transitions as data, steps and their scheduled times."""

from __future__ import annotations

import pytest

from mockbatch.lifecycle import (
    CANCELLABLE,
    TERMINAL,
    TRANSITIONS,
    OutputKey,
    Plan,
    Progress,
    Status,
    lines_done,
    next_step,
    request_counts,
)

PLAN = Plan(validating=1, per_request=0.5, finalizing=1, cancelling=2, window=100)


def validated(total: int, errors: list | None = None) -> dict:
    return {"total": total, "model": "gpt-4o-mini-2024-07-18", "errors": errors or [], "ready_at": 0.0}


def test_transition_table() -> None:
    assert {Status.FAILED, Status.COMPLETED, Status.EXPIRED, Status.CANCELLED} == TERMINAL
    assert {Status.VALIDATING, Status.IN_PROGRESS, Status.FINALIZING} == CANCELLABLE
    for source, targets in TRANSITIONS.items():
        assert source not in targets


@pytest.mark.parametrize(
    ("status", "progress", "expected"),
    [
        (Status.VALIDATING, Progress(created=10), (Status.IN_PROGRESS, 11, True, None)),
        (Status.VALIDATING, Progress(created=10, validated=validated(4)), (Status.IN_PROGRESS, 11, False, None)),
        (Status.VALIDATING, Progress(created=10, validated=validated(0, [{"code": "x"}])),
         (Status.FAILED, 11, False, None)),
        (Status.IN_PROGRESS, Progress(created=10, in_progress=11, validated=validated(4)),
         (Status.FINALIZING, 13, False, None)),
        (Status.IN_PROGRESS, Progress(created=10, in_progress=11, validated=validated(1000)),
         (Status.EXPIRED, 110, False, OutputKey(198, "expired"))),
        (Status.FINALIZING, Progress(created=10, in_progress=11, finalizing=13, validated=validated(4)),
         (Status.COMPLETED, 14, False, OutputKey(4, "completed"))),
        (Status.CANCELLING, Progress(created=10, in_progress=11, cancelling=12, cancelled_from="in_progress",
                                     validated=validated(4)),
         (Status.CANCELLED, 14, False, OutputKey(2, "cancelled"))),
        (Status.CANCELLING, Progress(created=10, cancelling=10.5, cancelled_from="validating"),
         (Status.CANCELLED, 12.5, False, None)),
    ],
)
def test_next_step(status: Status, progress: Progress, expected: tuple) -> None:
    step = next_step(status, progress, PLAN)
    assert step is not None
    assert (step.to, step.at, step.needs_validation, step.output) == expected
    assert step.to in TRANSITIONS[status]


def test_terminal_has_no_step() -> None:
    for status in TERMINAL:
        assert next_step(status, Progress(created=0, validated=validated(1)), PLAN) is None


def test_lines_done_and_counts() -> None:
    progress = Progress(created=0, in_progress=1, validated=validated(6))
    assert [lines_done(progress, PLAN, t) for t in (0, 1, 1.49, 1.5, 2, 10)] == [0, 0, 0, 1, 2, 6]
    outcomes = bytes([0, 1, 0, 0, 1, 0])
    assert request_counts(progress, PLAN, outcomes, 3) == {"total": 6, "completed": 3, "failed": 1}
    immediate = Plan(per_request=0)
    assert lines_done(progress, immediate, 1) == 6
