"""The one clock every transition reads. The only module that looks at real time.

`real`: virtual time runs at `scale` x real time from an anchor.
`manual`: virtual time moves only through `advance()`.
The anchor is persisted by the engine so a restarted server carries on where it was.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger("mockbatch")

# Virtual times are unix seconds that must stay dates: past these, clients cannot read them (and floats run out).
EARLIEST = -62_135_596_800  # 0001-01-01T00:00:00Z
LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_SCALE = 1_000_000  # a virtual day in 86 ms; at this speed the real clock still takes days to reach LATEST


def wall() -> float:
    return time.time()


@dataclass(frozen=True)
class Anchor:
    """Virtual time `virtual` was reached at wall time `wall`; for the manual clock `wall` is unused."""

    mode: str
    virtual: float
    wall: float
    scale: float


class Clock:
    def __init__(self, mode: str, scale: float = 1.0, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self.mode = mode
        self.scale = scale
        now = wall()
        self._anchor = Anchor(mode, now if start is None else start, now, scale)

    @property
    def anchor(self) -> Anchor:
        return self._anchor

    def resume(self, saved: Anchor) -> None:
        """Carry on from a persisted anchor, so time never runs backwards nor jumps ahead.

        A changed mode or scale carries on from the virtual time reached so far, not from the wall clock: a
        manual-clock database restarted on the real clock would otherwise leap to today and expire every
        batch in flight. An impossible anchor (written by an older version given `--time-scale inf`, say)
        is repaired with a warning: from its last saved time if that is a date, else from a fresh start.
        """
        with self._lock:
            if saved.mode not in ("real", "manual") or not _is_date(saved.virtual):
                log.warning("clock: the database's saved clock is unusable (%r); it starts again at %s", saved,
                            _iso(self._anchor.virtual))
                return
            if saved.mode == "manual":
                reached = saved.virtual
                if self.mode == "manual":
                    self._anchor = saved
                    return
                log.warning("clock: the database ran on the manual clock; the real clock carries on from its time, "
                            "%s, so batches in flight keep their deadlines", _iso(reached))
            else:
                reached = saved.virtual + (wall() - saved.wall) * saved.scale  # nan or out of range if it is broken
                if not (saved.scale > 0 and _is_date(reached)):
                    log.warning("clock: the database's saved clock is unusable (%r); it carries on from %s", saved,
                                _iso(saved.virtual))
                    reached = saved.virtual
                elif self.mode == "real" and saved.scale == self.scale:
                    self._anchor = saved
                    return
            self._anchor = Anchor(self.mode, max(reached, saved.virtual), wall(), self.scale)

    def restart(self, start: float | None) -> None:
        """Back to a fresh start (used by reset)."""
        with self._lock:
            now = wall()
            self._anchor = Anchor(self.mode, now if start is None else start, now, self.scale)

    def now(self) -> float:
        a = self._anchor
        if a.mode == "manual":
            return a.virtual
        return a.virtual + (wall() - a.wall) * a.scale

    def wall(self) -> float:
        """Real time, for what must be checked against it (a webhook's signed timestamp); never for transitions."""
        return wall()

    def advance(self, seconds: float) -> float:
        """Move virtual time forward; works in both modes (the real clock jumps ahead)."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        with self._lock:
            a = self._anchor
            self._anchor = Anchor(a.mode, a.virtual + seconds, a.wall, a.scale)
            return self.now()


def _is_date(t: float) -> bool:
    return EARLIEST <= t <= LATEST  # False for nan too


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
