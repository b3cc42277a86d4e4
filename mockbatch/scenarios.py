"""Scenarios: TOML files that script a batch's progression, its outcome, per-line failures, API faults and
webhook faults.

A scenario is parsed once into frozen dataclasses; a bad file is refused with the file, the key path
and the reason. Its batch part becomes a lifecycle `Plan`, frozen onto each batch at creation; its
`faults` are applied by the HTTP layer, its `webhook_faults` to the deliveries of its batches' events.
See scenarios/README.md for the format.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mockbatch import events
from mockbatch.errors import InvalidRequest
from mockbatch.operations import journaled_names
from mockbatch.plan import LineRule, Phase, Plan

PHASES = ("validating", "in_progress", "finalizing", "cancelling")
OPERATIONS = journaled_names()  # what a fault's `operation` may be: the names of the journaled API operations
EFFECTS = ("status", "delay", "reset", "empty", "malformed", "truncate", "dribble", "invisible_file", "stale_list")
# The webhook effects that take `seconds`, with its default (None: required); the others refuse it.
WEBHOOK_SECONDS = {"delay": None, "out_of_order": events.HOLD_SECONDS, "stale_timestamp": events.STALE_SECONDS}


class ScenarioError(ValueError):
    """A scenario file is unusable; the message names the file, the key path and the reason."""


# -- the data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """An API-level fault: which requests (first match wins) and what happens to them."""

    name: str
    operation: str | None = None
    method: str | None = None
    path: str | None = None  # glob over the request path
    times: int | None = None  # only the first N matches
    after: int = 0  # skip the first N matches
    probability: float = 1.0
    effect: str = "status"
    status: int = 500
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = None
    delay_range: tuple[float, float] | None = None
    bytes: int = 0  # truncate: bytes sent before the cut; dribble: bytes per write
    interval: float = 0.05  # dribble: seconds between writes
    seconds: float = 0.0  # invisible_file / stale_list: for how long (virtual seconds)

    def selects(self, operation: str | None, method: str, path: str) -> bool:
        if self.operation is not None and self.operation != operation:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class WebhookFault:
    """A webhook delivery fault: which events (first match wins) and what happens to their delivery."""

    name: str
    effect: str  # one of events.EFFECTS
    event: str | None = None  # an event type or a glob over it ("batch.*"); None: every event
    times: int | None = None  # only the first N matches
    after: int = 0  # skip the first N matches
    probability: float = 1.0
    # delay: virtual seconds late; out_of_order: the longest hold; stale_timestamp: how old the timestamp is
    seconds: float = 0.0

    def selects(self, event_type: str) -> bool:
        return self.event is None or fnmatch.fnmatchcase(event_type, self.event)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str = "built-in"
    phases: dict[str, Phase] = field(default_factory=dict)
    request_seconds: float | None = None
    fail_errors: tuple[dict[str, Any], ...] | None = None
    expire_fraction: float | None = None
    cancel_fraction: float | None = None
    lines: tuple[LineRule, ...] = ()
    faults: tuple[Fault, ...] = ()
    webhook_faults: tuple[WebhookFault, ...] = ()

    def plan(self, base: Plan) -> Plan:
        """The plan a batch created under this scenario is frozen with; `base` carries the server's timings."""
        return Plan(
            validating=self.phases.get("validating", base.validating),
            per_request=base.per_request if self.request_seconds is None else self.request_seconds,
            in_progress=self.phases.get("in_progress", base.in_progress),
            finalizing=self.phases.get("finalizing", base.finalizing),
            cancelling=self.phases.get("cancelling", base.cancelling),
            window=base.window,
            shuffle=base.shuffle,
            fail_errors=self.fail_errors,
            expire_fraction=self.expire_fraction,
            cancel_fraction=self.cancel_fraction,
            lines=self.lines,
            scenario=self.name,
        )


DEFAULT = Scenario("default", "The server's own timings; every line succeeds; no faults.")


# -- parsing ----------------------------------------------------------------------------------------
class _Reader:
    """Reads one table, remembering the key path for error messages and refusing unknown keys."""

    def __init__(self, source: str, path: str, data: Any) -> None:
        self.source, self.path = source, path
        if not isinstance(data, dict):
            self.fail("expected a table")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def fail(self, reason: str, key: str | None = None) -> None:
        where = ".".join(p for p in (self.path, key) if p) or "(top level)"
        raise ScenarioError(f"{self.source}: {where}: {reason}")

    def get(self, key: str, kinds: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            self.fail(f"expected {_kind_names(kinds)}, got a boolean", key)
        if not isinstance(value, kinds):
            self.fail(f"expected {_kind_names(kinds)}, got {type(value).__name__}", key)
        return value

    def number(self, key: str, default: float | None = None, low: float = 0.0, high: float | None = None) -> Any:
        value = self.get(key, (int, float), default)
        if value is not None and (value < low or (high is not None and value > high)):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.fail(f"must be {bound}, got {value!r}", key)
        return value

    def table(self, key: str) -> _Reader | None:
        self.used.add(key)
        if key not in self.data:
            return None
        return _Reader(self.source, f"{self.path}.{key}" if self.path else key, self.data[key])

    def tables(self, key: str) -> list[_Reader]:
        self.used.add(key)
        value = self.data.get(key, [])
        if not isinstance(value, list):
            self.fail("expected an array of tables ([[...]])", key)
        prefix = f"{self.path}.{key}" if self.path else key
        return [_Reader(self.source, f"{prefix}[{i}]", item) for i, item in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail("unknown key", unknown[0])


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a table",
             list: "an array"}
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _phase(reader: _Reader, name: str) -> Phase | None:
    value = reader.data.get(name)
    reader.used.add(name)
    if value is None:
        return None
    if value == "manual":
        return Phase(manual=True)
    if isinstance(value, bool) or not isinstance(value, int | float | dict):
        reader.fail("expected seconds, \"manual\" or a table like { polls = 3 }", name)
    if isinstance(value, int | float):
        if value < 0:
            reader.fail(f"must be at least 0, got {value!r}", name)
        return Phase(seconds=float(value))
    sub = _Reader(reader.source, f"{reader.path}.{name}", value)
    polls = sub.get("polls", int)
    seconds = sub.number("seconds")
    sub.done()
    if (polls is None) == (seconds is None):
        sub.fail("give exactly one of 'polls' or 'seconds'")
    if polls is not None and polls < 1:
        sub.fail(f"must be at least 1, got {polls}", "polls")
    return Phase(polls=polls) if polls is not None else Phase(seconds=float(seconds))


def _error(reader: _Reader, key: str) -> dict[str, Any] | None:
    sub = reader.table(key)
    if sub is None:
        return None
    out = {}
    for name in ("message", "type", "param", "code"):
        value = sub.get(name, str)
        if value is not None:
            out[name] = value
    sub.done()
    return out


def _status(reader: _Reader, default: int) -> int:
    status = reader.get("status", int, default)
    if not 100 <= status <= 599:
        reader.fail(f"must be an HTTP status between 100 and 599, got {status}", "status")
    return int(status)


def _line_rule(r: _Reader) -> LineRule:
    match = r.table("match")
    if match is None:
        r.fail("missing key 'match' (a table: custom_id, custom_id_regex, every, index_range or fraction)")
    assert match is not None
    regex = match.get("custom_id_regex", str)
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            match.fail(f"not a regular expression: {exc}", "custom_id_regex")
    every = match.get("every", int)
    if every is not None and every < 1:
        match.fail(f"must be at least 1, got {every}", "every")
    span = match.get("index_range", list)
    if span is not None and (len(span) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)
                             or span[0] > span[1] or span[0] < 0):
        match.fail("expected [start, stop] with 0 <= start <= stop", "index_range")
    rule = LineRule(custom_id=match.get("custom_id", str), custom_id_regex=regex, every=every,
                    index_range=tuple(span) if span else None,  # type: ignore[arg-type]
                    fraction=match.number("fraction", high=1.0))
    match.done()
    if rule == LineRule():
        match.fail("give at least one of custom_id, custom_id_regex, every, index_range, fraction")
    response = r.get("response", dict)
    status = _status(r, 200 if response is not None else 500)
    rule = LineRule(**{**rule.__dict__, "status": status, "error": _error(r, "error"), "response": response})
    r.done()
    return rule


def _fault(r: _Reader, index: int) -> Fault:
    name = r.get("name", str, f"fault-{index + 1}")
    operation = r.get("operation", str)
    if operation is not None and operation not in OPERATIONS:
        r.fail(f"unknown operation '{operation}'; expected one of: {', '.join(OPERATIONS)}", "operation")
    method = r.get("method", str)
    path = r.get("path", str)
    if operation is None and method is None and path is None:
        r.fail("give 'operation', or 'method' and/or 'path', to say which requests it hits")
    effect = r.get("effect", str, "status")
    if effect not in EFFECTS:
        r.fail(f"unknown effect '{effect}'; expected one of: {', '.join(EFFECTS)}", "effect")
    delay = r.get("delay", (int, float, dict))
    delay_range = None
    if isinstance(delay, dict):
        sub = _Reader(r.source, f"{r.path}.delay", delay)
        low, high = sub.number("min", 0.0), sub.number("max")
        sub.done()
        if high is None or high < low:
            sub.fail("expected { min = A, max = B } with B >= A")
        delay, delay_range = None, (float(low), float(high))
    elif delay is not None and delay < 0:
        r.fail(f"must be at least 0, got {delay!r}", "delay")
    headers = r.get("headers", dict, {})
    for key, value in headers.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            r.fail("header values must be strings or numbers", f"headers.{key}")
    fault = Fault(
        name=name, operation=operation, method=method, path=path, **_counting(r), effect=effect,
        status=_status(r, 200 if effect in ("empty", "malformed") else 500), error=_error(r, "error"),
        headers={k.lower(): str(v) for k, v in headers.items()},
        delay=None if delay is None else float(delay), delay_range=delay_range,
        bytes=int(r.number("bytes", 0)), interval=float(r.number("interval", 0.05)),
        seconds=float(r.number("seconds", 0.0)),
    )
    if effect == "delay" and fault.delay is None and fault.delay_range is None:
        r.fail("a delay fault needs 'delay' (seconds, or { min, max })")
    if effect == "dribble" and fault.bytes < 1:
        r.fail("a dribble fault needs 'bytes' (bytes per write) of at least 1", "bytes")
    if effect in ("invisible_file", "stale_list") and fault.seconds <= 0:
        r.fail(f"an {effect} fault needs 'seconds' greater than 0", "seconds")
    r.done()
    return fault


def _counting(r: _Reader) -> dict[str, Any]:
    """A fault's `times`, `after` and `probability`: which of its matches it hits (API and webhook faults alike)."""
    times = r.get("times", int)
    if times is not None and times < 1:
        r.fail(f"must be at least 1, got {times}", "times")
    after = r.get("after", int, 0)
    if after < 0:
        r.fail(f"must be at least 0, got {after}", "after")
    return {"times": times, "after": after, "probability": float(r.number("probability", 1.0, high=1.0))}


def _webhook_fault(r: _Reader, index: int) -> WebhookFault:
    name = r.get("name", str, f"webhook-fault-{index + 1}")
    event = r.get("event", str)
    if event is not None and not fnmatch.filter(events.EVENT_TYPES, event):
        r.fail(f"unknown event type {quoted(event)}; expected one of the event types "
               f"({', '.join(events.BATCH_EVENTS)}, ...) or a glob such as 'batch.*'", "event")
    effect = r.get("effect", str)
    if effect is None:
        r.fail(f"missing key 'effect'; expected one of: {', '.join(events.EFFECTS)}")
    if effect not in events.EFFECTS:
        r.fail(f"unknown effect {quoted(effect)}; expected one of: {', '.join(events.EFFECTS)}", "effect")
    counting = _counting(r)
    seconds = 0.0
    if effect in WEBHOOK_SECONDS:
        seconds = r.number("seconds", WEBHOOK_SECONDS[effect])
        if not seconds:
            r.fail(f"the {effect} effect needs 'seconds' greater than 0", "seconds")
        if effect == "stale_timestamp" and seconds <= events.TOLERANCE:
            r.fail(f"the stale_timestamp effect needs 'seconds' greater than {events.TOLERANCE} (the SDK's "
                   f"tolerance: a younger timestamp verifies), got {seconds!r}", "seconds")
    elif "seconds" in r.data:
        r.fail("'seconds' applies only to delay, out_of_order and stale_timestamp", "seconds")
    r.done()
    return WebhookFault(name=name, effect=effect, event=event, **counting, seconds=float(seconds))


def parse(text: str, name: str, source: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    top = _Reader(source, "", data)
    description = top.get("description", str)
    if not description:
        top.fail("missing key 'description'")
    phases: dict[str, Phase] = {}
    request_seconds = None
    timing = top.table("phases")
    if timing is not None:
        for phase in PHASES:
            parsed = _phase(timing, phase)
            if parsed is not None:
                phases[phase] = parsed
        request_seconds = timing.number("request_seconds")
        timing.done()
    fail_errors = expire_fraction = cancel_fraction = None
    outcome = top.table("outcome")
    if outcome is not None:
        stay = outcome.get("stay", str)
        if stay is not None:
            if stay not in PHASES:
                outcome.fail(f"expected one of {', '.join(PHASES)}, got '{stay}'", "stay")
            phases[stay] = Phase(manual=True)
        expire_fraction = outcome.number("expire_after_fraction", high=1.0)
        cancel_fraction = outcome.number("cancel_after_fraction", high=1.0)
        if expire_fraction is not None and cancel_fraction is not None:
            outcome.fail("give only one of 'expire_after_fraction' and 'cancel_after_fraction'")
        errors = outcome.tables("fail_validation")
        if errors:
            fail_errors = tuple(_validation_error(e) for e in errors)
        outcome.done()
    lines = tuple(_line_rule(r) for r in top.tables("lines"))
    faults = tuple(_fault(r, i) for i, r in enumerate(top.tables("faults")))
    webhook_faults = tuple(_webhook_fault(r, i) for i, r in enumerate(top.tables("webhook_faults")))
    top.done()
    return Scenario(name, description, source, phases, request_seconds, fail_errors, expire_fraction,
                    cancel_fraction, lines, faults, webhook_faults)


def _validation_error(r: _Reader) -> dict[str, Any]:
    code, message = r.get("code", str), r.get("message", str)
    if not code or not message:
        r.fail("a validation error needs 'code' and 'message'")
    line = r.get("line", int)
    out = {"code": code, "message": message, "param": r.get("param", str), "line": line}
    r.done()
    return out


def load(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    return parse(text, path.stem, str(path))


def bundled_dir() -> Path | None:
    """The scenarios shipped with mockbatch: inside the installed package, or beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "scenarios", here.parent / "scenarios"):
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    return None


NAME_MAX = 128  # characters in a scenario name a request may give


def quoted(text: str, limit: int = 40) -> str:
    """`text` for an error message: quoted, cut short, escaped when unprintable (a lone surrogate, which
    the answer could not even encode, or a NUL)."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return f"'{cut}'" if cut.isprintable() else ascii(cut)


class ScenarioBook:
    """Every known scenario by name: the built-in default, the bundled files, then the user's directory.

    Every file is read here, at start (a bad one stops the start); after that a lookup never touches
    the disk, so a request naming a scenario can neither load a file nor change what anyone else sees.
    """

    def __init__(self, extra_dir: str | None = None) -> None:
        self.scenarios: dict[str, Scenario] = {DEFAULT.name: DEFAULT}
        bundled = bundled_dir()
        for folder in (bundled, Path(extra_dir) if extra_dir else None):
            if folder is None:
                continue
            if not folder.is_dir():
                raise ScenarioError(f"{folder}: scenarios directory not found")
            for path in sorted(folder.glob("*.toml")):
                scenario = load(path)
                self.scenarios[path.stem] = replace(scenario, source="bundled") if folder == bundled else scenario
        self.configured = DEFAULT

    def configure(self, name_or_path: str | None) -> Scenario:
        """The server's own scenario (--scenario): a name, or a path to a TOML file. Only whoever runs the
        server may name a file: it is read now and known by its file name from then on, as the folders' are."""
        name = name_or_path or DEFAULT.name
        if name not in self.scenarios:
            path = Path(name)
            if path.suffix != ".toml" or not path.is_file():
                raise KeyError(name)
            name = path.stem
            self.scenarios[name] = load(path)
        self.configured = self.scenarios[name]
        return self.configured

    def check_name(self, name: str, param: str | None = None) -> None:
        """Refuse what cannot be a scenario's name (a path, "..", a NUL, a lone surrogate, anything over
        NAME_MAX): the message shows it escaped and cut short, so the answer can always be sent."""
        if 0 < len(name) <= NAME_MAX and name.isprintable() and not {"/", "\\"} & set(name) \
                and name not in (".", ".."):
            return
        raise InvalidRequest(f"Unknown scenario {quoted(name)}: a scenario is named by its file name in a scenario "
                             f"folder, without '.toml' (at most {NAME_MAX} printable characters), never by a path. "
                             f"Known scenarios: {', '.join(self.names())}.", param=param, code="scenario_not_found")

    def get(self, name: str) -> Scenario:
        """A scenario by name, once `check_name` has let it through; KeyError if there is none."""
        return self.scenarios[name]

    def names(self) -> list[str]:
        return list(self.scenarios)
