"""The pure state machine: transitions as data, steps and their scheduled times."""

from __future__ import annotations

import math

import pytest

from mockbatch.lifecycle import (
    CANCELLABLE,
    TERMINAL,
    TRANSITIONS,
    OutputKey,
    Phase,
    Plan,
    Progress,
    Status,
    Step,
    Validated,
    force,
    lines_done,
    next_step,
    request_counts,
)

PLAN = Plan(validating=Phase(1), per_request=0.5, finalizing=Phase(1), cancelling=Phase(2), window=100)
NOW = 50.0


def validated(total: int, errors: list | None = None) -> Validated:
    return Validated(total, "gpt-4o-mini-2024-07-18", errors or [])


def test_transition_table() -> None:
    assert {Status.FAILED, Status.COMPLETED, Status.EXPIRED, Status.CANCELLED} == TERMINAL
    assert {Status.VALIDATING, Status.IN_PROGRESS, Status.FINALIZING} == CANCELLABLE
    for source, targets in TRANSITIONS.items():
        assert source not in targets


@pytest.mark.parametrize(
    ("status", "progress", "expected"),
    [
        (Status.VALIDATING, Progress(created=10), (Status.IN_PROGRESS, math.inf, True, None)),
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
                                     cancel_ran=2, validated=validated(4)),
         (Status.CANCELLED, 14, False, OutputKey(2, "cancelled"))),
        (Status.CANCELLING, Progress(created=10, cancelling=10.5, cancelled_from="validating"),
         (Status.CANCELLED, 12.5, False, None)),
    ],
)
def test_next_step(status: Status, progress: Progress, expected: tuple) -> None:
    step = next_step(status, progress, PLAN, NOW)
    assert step is not None
    assert (step.to, step.at, step.needs_validation, step.output) == expected
    assert step.to in TRANSITIONS[status]


def test_terminal_has_no_step() -> None:
    for status in TERMINAL:
        assert next_step(status, Progress(created=0, validated=validated(1)), PLAN, NOW) is None


def test_lines_done_and_counts() -> None:
    progress = Progress(created=0, in_progress=1, validated=validated(6))
    assert [lines_done(progress, PLAN, t) for t in (0, 1, 1.49, 1.5, 2, 10)] == [0, 0, 0, 1, 2, 6]
    outcomes = bytes([0, 1, 0, 0, 1, 0])
    assert request_counts(Status.IN_PROGRESS, progress, PLAN, outcomes, 3) == {"total": 6, "completed": 3, "failed": 1}
    immediate = Plan(per_request=0)
    assert lines_done(progress, immediate, 1) == 6


def test_polls_manual_forced_and_fraction() -> None:
    polled = Plan(validating=Phase(polls=3), in_progress=Phase(polls=4))
    progress = Progress(created=0, validated=validated(8), polls=2)
    assert next_step(Status.VALIDATING, progress, polled, NOW).at == math.inf
    progress.polls = 3
    assert next_step(Status.VALIDATING, progress, polled, NOW) == Step(Status.IN_PROGRESS, NOW)
    running = Progress(created=0, in_progress=1, validated=validated(8), polls=1)
    assert lines_done(running, polled, 1000) == 2  # a quarter of the polls: a quarter of the lines
    assert next_step(Status.IN_PROGRESS, running, polled, NOW).at == math.inf
    manual = Plan(finalizing=Phase(manual=True))
    final = Progress(created=0, in_progress=1, finalizing=2, validated=validated(8))
    assert next_step(Status.FINALIZING, final, manual, NOW).at == math.inf
    final.forced = "completed"
    assert next_step(Status.FINALIZING, final, manual, NOW).at == NOW
    partial = Plan(expire_fraction=0.5, per_request=1)
    step = next_step(Status.IN_PROGRESS, Progress(created=0, in_progress=1, validated=validated(8)), partial, NOW)
    assert step == Step(Status.EXPIRED, 5, output=OutputKey(4, "expired"))


def test_a_forced_expiry_keeps_the_lines_run_when_it_was_asked() -> None:
    """On the real clock more lines run while the expiry's output is written: its key must not move with them, or
    the written output would be stale every time and the batch would expire only once every line had run."""
    running = Progress(created=0, in_progress=1, validated=validated(100))
    force(running, PLAN, Status.EXPIRED, 3)  # 4 lines at 0.5 s each by t=3
    for now in (3, 10, 40):
        assert next_step(Status.IN_PROGRESS, running, PLAN, now) == Step(Status.EXPIRED, now,
                                                                        output=OutputKey(4, "expired"))
