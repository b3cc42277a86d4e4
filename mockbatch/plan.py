"""How a batch moves, frozen onto it at creation: its phases' timings and the scenario's per-line rules.

Plain data (a scenario file's batch part, made into values), shared by the scenarios that make plans, the
lifecycle that follows them and the jobs that apply their line rules, none of which import each other.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass
from typing import Any

from mockbatch import ids
from mockbatch.errors import status_envelope


@dataclass(frozen=True)
class LineRule:
    """Which lines (first match wins) and what they get: an error status and body, or a fixed response."""

    custom_id: str | None = None  # glob
    custom_id_regex: str | None = None
    every: int | None = None  # every Nth request in input order (the Nth, 2Nth, ...)
    index_range: tuple[int, int] | None = None  # 0-based request indices, [start, stop)
    fraction: float | None = None  # a seeded share of the lines
    status: int = 500
    error: dict[str, Any] | None = None
    response: dict[str, Any] | None = None

    def matches(self, index: int, custom_id: str, draw: float) -> bool:
        checks = []
        if self.custom_id is not None:
            checks.append(fnmatch.fnmatchcase(custom_id, self.custom_id))
        if self.custom_id_regex is not None:
            checks.append(re.search(self.custom_id_regex, custom_id) is not None)
        if self.every is not None:
            checks.append((index + 1) % self.every == 0)
        if self.index_range is not None:
            checks.append(self.index_range[0] <= index < self.index_range[1])
        if self.fraction is not None:
            checks.append(draw < self.fraction)
        return all(checks)

    def result(self) -> tuple[int, dict[str, Any]]:
        if self.response is not None:
            return self.status, self.response
        return self.status, status_envelope(self.status, self.error)


def match_line(rules: tuple[LineRule, ...], seed: int, batch_id: str, index: int, custom_id: str) -> LineRule | None:
    if not rules:
        return None
    draw = int.from_bytes(ids.digest(seed, batch_id, "line", custom_id, size=8), "big") / 2**64
    return next((rule for rule in rules if rule.matches(index, custom_id, draw)), None)


@dataclass(frozen=True)
class Rules:
    """Where the providers' batch APIs differ, by flavour (the surface a batch or a file came through): declared
    here, read where they apply, so that no place has to ask which provider it is."""

    expires_at_window: bool = True  # a job still running at its 24 h window expires (Azure's runs on)
    empty_error_file: bool = False  # a job with no failed line still names an empty error file (Azure)
    max_lines: int | None = None  # requests per input file; None: the endpoint's own limit (Azure: 100,000)
    model_word: str = "model"  # lines naming different models: "The <word> '…' … for a single <word>."
    mismatch_code: str = "mismatched_model"
    short_endpoints: bool = False  # a create may name the endpoint without its `/v1` ("/chat/completions": Azure's)
    file_ttl: tuple[int, int] = (3600, 2_592_000)  # the `expires_after.seconds` an upload may ask (Azure: 14-30 days)


FLAVOURS = {
    "openai": Rules(),
    "azure": Rules(expires_at_window=False, empty_error_file=True, max_lines=100_000, model_word="deployment",
                   mismatch_code="model_mismatch", short_endpoints=True, file_ttl=(1_209_600, 2_592_000)),
}


@dataclass(frozen=True)
class Phase:
    """How a phase ends: after `seconds` of virtual time, after `polls` retrieves, or only when told (`manual`)."""

    seconds: float = 0.0
    polls: int | None = None
    manual: bool = False


@dataclass(frozen=True)
class Plan:
    """How a batch moves, frozen onto it at creation (the scenario's batch part)."""

    validating: Phase = Phase(1.0)
    per_request: float = 0.5  # virtual seconds per request while in_progress
    in_progress: Phase = Phase()  # its length comes from per_request; polls or manual override that
    finalizing: Phase = Phase(1.0)
    cancelling: Phase = Phase(1.0)
    window: float = 86400.0
    shuffle: bool = True
    fail_errors: tuple[dict[str, Any], ...] | None = None  # fail validation with exactly these errors
    expire_fraction: float | None = None  # expire once this share of the lines has run
    cancel_fraction: float | None = None  # cancelled (by someone else) once this share of the lines has run
    lines: tuple[LineRule, ...] = ()  # first match wins
    scenario: str = "default"
    flavour: str = "openai"  # whose rules the batch follows: "openai", or "azure" (created through Azure's paths)

    @property
    def rules(self) -> Rules:
        return FLAVOURS[self.flavour]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        data = dict(data)
        for name in ("validating", "in_progress", "finalizing", "cancelling"):
            data[name] = Phase(**data[name])
        if data.get("fail_errors") is not None:
            data["fail_errors"] = tuple(data["fail_errors"])
        data["lines"] = tuple(
            LineRule(**{**r, "index_range": tuple(r["index_range"]) if r.get("index_range") else None})
            for r in data.get("lines", ()))
        return cls(**data)
