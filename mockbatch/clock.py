"""The one clock every transition reads. The only module that looks at real time.

`real`: virtual time runs at `scale` x real time from an anchor.
`manual`: virtual time moves only through `advance()`.
The anchor is persisted by the engine so a restarted server carries on where it was.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


def wall() -> float:
    return time.time()


def monotonic() -> float:
    return time.monotonic()


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
        """Carry on from a persisted anchor (same mode and scale), so time never runs backwards."""
        with self._lock:
            if saved.mode == self.mode and (saved.mode == "manual" or saved.scale == self.scale):
                self._anchor = saved
            else:  # the mode or scale changed: start again from the virtual time reached so far
                reached = saved.virtual
                if saved.mode == "real":
                    reached += (wall() - saved.wall) * saved.scale
                self._anchor = Anchor(self.mode, max(reached, self.now()), wall(), self.scale)

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

    def advance(self, seconds: float) -> float:
        """Move virtual time forward; works in both modes (the real clock jumps ahead)."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        with self._lock:
            a = self._anchor
            self._anchor = Anchor(a.mode, a.virtual + seconds, a.wall, a.scale)
            return self.now()

    def real_seconds(self, virtual_seconds: float) -> float:
        """How long the real clock takes to cover `virtual_seconds` (infinite for the manual clock)."""
        if self.mode == "manual":
            return float("inf")
        return virtual_seconds / self.scale
