"""What the API has been asked: the request journal, and which scripted fault (if any) each request gets, and
each webhook delivery.

The fault counters (`times`, `after`) and the seeded draws for `probability` live here, so a reset
or a scenario switch starts them afresh and the same run picks the same faults. API and webhook faults are
counted apart and draw from RNGs of their own, so one kind's draws never shift the other's picks. The journal
is read by anyone who reaches the control plane: an entry shows a key only masked, and no string longer than
TEXT_MAX.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from mockbatch.operations import PARAM, SURFACES
from mockbatch.scenarios import Fault, Scenario, WebhookFault

JOURNAL_SIZE = 10_000  # the newest requests kept: a server polled for hours must not grow without end
TEXT_MAX = 256  # characters kept of any string in an entry: a 60 KB path must not cost 60 KB per entry
KEY_KIND = re.compile(r"[A-Za-z0-9]{1,7}[-_]")  # "sk-", "sk_", "sess-": what kind of key it is

def _pattern(template: str) -> re.Pattern[str]:
    """A path template as a regex over the raw request path (the journal and the faults see a request before
    it is routed): each `{name}` is one segment, as Starlette routes it; a trailing slash is let through."""
    parts = PARAM.split(template)  # literal, name, literal, ...
    regex = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(regex + "/?$")


def _matchers() -> dict[str, list[tuple[re.Pattern[str], str]]]:
    """By method, the journaled operations' patterns and names: the hot ones first, as every request is matched
    here (the patterns are disjoint, so the order changes only how soon one is found)."""
    by_method: dict[str, list[tuple[re.Pattern[str], str]]] = {}
    for surface in SURFACES:
        if surface.journaled:
            for op in sorted(surface.operations, key=lambda op: not op.hot):
                by_method.setdefault(op.method, []).append((_pattern(surface.full_path(op)), op.name))
    return by_method


MATCHERS = _matchers()


def operation(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    """The operation name of a request and the ids in its path."""
    for pattern, name in MATCHERS.get(method, ()):
        if found := pattern.match(path):
            return name, found.groupdict()
    return None, {}


def mask_key(key: str | None) -> str | None:
    """An API key as OpenAI's dashboard shows one, "sk-...abcd": its kind (up to its first dash or
    underscore, at most 8 characters) and its last 4 characters, each shown only while at least half the
    key stays hidden (so "sk-test" is "sk-..." and "k" is "...")."""
    if not key:
        return None
    kind = found.group() if (found := KEY_KIND.match(key)) and 2 * found.end() <= len(key) else ""
    tail = key[-4:] if 2 * (len(kind) + 4) <= len(key) else ""
    return f"{kind}...{tail}"


def clip(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 3] + "..."


@dataclass
class Entry:
    time: float
    tenant: str | None
    method: str
    path: str
    operation: str | None
    status: int | None
    retry_count: int | None
    fault: str | None
    batch_id: str | None
    file_id: str | None

    def __setattr__(self, name: str, value: Any) -> None:
        # Every field is set through here, at creation too: no entry ever holds a key, or a long string.
        if name == "tenant":
            value = mask_key(value)
        super().__setattr__(name, clip(value) if isinstance(value, str) else value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Traffic:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.journal: deque[Entry] = deque(maxlen=JOURNAL_SIZE)
        self._matches: dict[tuple[str, str, int], int] = {}  # (kind, scenario, index) -> matches so far
        self._rng = random.Random(f"{seed}:faults")
        self._webhook_rng = random.Random(f"{seed}:webhooks")

    def reset(self) -> None:
        self.journal.clear()
        self.restart_faults()

    def restart_faults(self) -> None:
        self._matches.clear()
        self._rng = random.Random(f"{self.seed}:faults")
        self._webhook_rng = random.Random(f"{self.seed}:webhooks")

    def pick(self, scenario: Scenario, op: str | None, method: str, path: str) -> Fault | None:
        """The first of the scenario's faults that this request gets."""
        for index, fault in enumerate(scenario.faults):
            if fault.selects(op, method, path) and self._hits(("faults", scenario.name, index), fault, self._rng):
                return fault
        return None

    def pick_webhook(self, scenario: Scenario, event_type: str) -> WebhookFault | None:
        """The first of the scenario's webhook faults that this delivery (one event to one endpoint) gets: the
        scenario is the one its batch was created under. Each call counts as one match of every fault that
        selects the event, up to the one picked."""
        for index, fault in enumerate(scenario.webhook_faults):
            if fault.selects(event_type) and self._hits(("webhooks", scenario.name, index), fault, self._webhook_rng):
                return fault
        return None

    def _hits(self, key: tuple[str, str, int], fault: Fault | WebhookFault, rng: random.Random) -> bool:
        """Count one more match of `fault` (known by `key`): whether it hits, being past `after`, within `times`
        and through the seeded `probability` draw (made only for the matches that count)."""
        seen = self._matches[key] = self._matches.get(key, 0) + 1
        if seen <= fault.after or (fault.times is not None and seen > fault.after + fault.times):
            return False
        return fault.probability >= 1.0 or rng.random() < fault.probability

    def delay(self, fault: Fault) -> float:
        if fault.delay_range is not None:
            return self._rng.uniform(*fault.delay_range)
        return fault.delay or 0.0
