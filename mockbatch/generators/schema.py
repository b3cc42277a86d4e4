"""Instances of a JSON Schema, drawn with a seeded generator: structured outputs and tool arguments.

Covers what strict mode and ordinary tool schemas use: `type` (one or a list), `enum`, `const`,
`properties`/`required`/`additionalProperties`, `minProperties`/`maxProperties`, `items`/`prefixItems`,
`minItems`/`maxItems`/`uniqueItems`/`contains`, string `format`/`pattern`/`minLength`/`maxLength`,
number bounds (inclusive and exclusive, draft 4 booleans too) and `multipleOf`, `anyOf`/`oneOf`/`allOf`,
and local `$ref`s (`#/$defs/...`, `#/definitions/...`, `#`), recursive ones included: past a depth
limit the generator prefers the alternatives that end the recursion (`null`, fewest items, no optional
properties). Optional properties appear with a seeded coin toss; required ones always do.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
import re._constants as sre
import re._parser as sre_parse
from typing import Any

from mockbatch.generators.base import LINE_OUTPUT_TOKENS, WORDS

MAX_DEPTH = 6  # nesting past which the generator steers towards the smallest valid instance
GIVE_UP_DEPTH = 40  # a schema that cannot end its own recursion gets null here instead of looping
MAX_NODES = 20_000  # values drawn per instance; past it everything is null (bounds pathological schemas)
MAX_SIZE = 1000  # cap on items, properties and string length drawn, whatever the schema's minimum says
# Characters of strings (and of `const`/`enum` values, which may be big) per instance; past it everything is
# null, as past MAX_NODES. Without it 20,000 strings of 10,000 characters make 200 MB from a tiny schema; with
# it an instance is at most about four characters per token of base.LINE_OUTPUT_TOKENS, which cuts it anyway.
MAX_CHARS = 4 * LINE_OUTPUT_TOKENS
_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")


def instance(schema: Any, rng: random.Random) -> Any:
    """A value valid against `schema` (a dict or a boolean schema)."""
    return _Draw(schema, rng).value(schema, 0)


class _Draw:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.nodes = 0
        self.chars = 0

    # -- schema plumbing ------------------------------------------------------------------------
    def resolve(self, schema: Any) -> Any:
        """Follow `$ref`s (local JSON pointers); keywords next to a `$ref` are kept."""
        for _ in range(32):
            if not isinstance(schema, dict) or not isinstance(schema.get("$ref"), str):
                return schema
            target = self.pointer(schema["$ref"])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if isinstance(target, dict) and rest else target
        return schema

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def merge_all_of(self, schema: dict[str, Any], nesting: int = 0) -> dict[str, Any]:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"] if isinstance(schema["allOf"], list) else []:
            part = self.resolve(part)
            if not isinstance(part, dict):
                continue
            if "allOf" in part:
                part = self.merge_all_of(part, nesting + 1) if nesting < 8 else {}
            for key, value in part.items():
                if key == "properties" and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                elif key == "required" and isinstance(merged.get(key), list):
                    merged[key] = list(dict.fromkeys([*merged[key], *value]))
                elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum") and key in merged:
                    merged[key] = max(merged[key], value)
                elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum") and key in merged:
                    merged[key] = min(merged[key], value)
                else:
                    merged.setdefault(key, value)
        return merged

    def terminal(self, schema: Any) -> bool:
        """Whether a schema can be satisfied without going deeper (used to end recursion)."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return True
        if "const" in schema or "enum" in schema:
            return True
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        if "null" in types:
            return True
        if "object" in types:
            return not schema.get("required")
        if "array" in types:
            return not schema.get("minItems")
        return "$ref" not in schema and "anyOf" not in schema and "oneOf" not in schema

    # -- values ---------------------------------------------------------------------------------
    def value(self, schema: Any, depth: int) -> Any:
        self.nodes += 1
        if depth > GIVE_UP_DEPTH or self.nodes > MAX_NODES or self.chars > MAX_CHARS:
            return None
        schema = self.resolve(schema)
        if schema is True or schema is None or schema == {}:
            return self.counted(self.rng.choice(WORDS))
        if schema is False or not isinstance(schema, dict):
            return None
        if "allOf" in schema:
            schema = self.merge_all_of(schema)
        if "const" in schema:
            return self.counted(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.counted(self.rng.choice(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                if depth >= MAX_DEPTH:
                    options = [o for o in options if self.terminal(o)] or options
                chosen = self.resolve(self.rng.choice(options))
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                if isinstance(chosen, dict) and any(k in rest for k in ("type", "properties", "items", "required")):
                    chosen = {**rest, **chosen}
                return self.value(chosen, depth + 1)
        kind = self.kind(schema, depth)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        if kind == "string":
            return self.counted(self.string(schema))
        if kind in ("integer", "number"):
            try:
                return self.integer(schema) if kind == "integer" else self.number(schema)
            except OverflowError:  # bounds past the float range (10**400): the lower bound, an exact integer
                return _bounds(schema, integer=True)[0]
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def counted(self, value: Any) -> Any:
        """`value`, its characters added to the instance's (a schema's own value, copied out, counts whole)."""
        if isinstance(value, str):
            self.chars += len(value)
        elif isinstance(value, dict | list):
            self.chars += len(json.dumps(value))
        return value

    def kind(self, schema: dict[str, Any], depth: int) -> str:
        types = schema.get("type")
        if isinstance(types, list):
            known = [t for t in types if t in _TYPES] or ["null"]
            if depth >= MAX_DEPTH and "null" in known:
                return "null"
            return self.rng.choice(known)
        if isinstance(types, str):
            return types
        if "properties" in schema or "additionalProperties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema or "minItems" in schema:
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
            return "number"
        return "string"

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        rng = self.rng
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        extra_schema = schema.get("additionalProperties", True)
        max_props = schema.get("maxProperties")
        out: dict[str, Any] = {}
        for name in required:
            out[name] = self.value(props.get(name, extra_schema), depth + 1)
        optional = [name for name in props if name not in out]
        want_optional = depth < MAX_DEPTH
        for name in optional:
            if isinstance(max_props, int) and len(out) >= max_props:
                break
            if want_optional and rng.random() < 0.7:
                out[name] = self.value(props[name], depth + 1)
        min_props = schema.get("minProperties")
        if isinstance(min_props, int):
            min_props = min(min_props, MAX_SIZE)
            for name in optional:
                if len(out) >= min_props:
                    break
                out.setdefault(name, self.value(props[name], depth + 1))
            while len(out) < min_props and extra_schema is not False:
                key = rng.choice(WORDS) + str(len(out))
                if key not in out:
                    out[key] = self.value(extra_schema, depth + 1)
        # Keep the schema's property order, as a model writing the object would.
        order = {name: i for i, name in enumerate(props)}
        return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))

    def array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        rng = self.rng
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items", True)
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        low = min(max(_int(schema.get("minItems")), 0), MAX_SIZE)
        high = schema.get("maxItems")
        high = low + 3 if not isinstance(high, int) else max(high, low)
        if items is False:
            high = min(high, len(prefix))
        # One to three items near the top, fewer deeper down, just the minimum past MAX_DEPTH (recursion).
        spread = 2 if depth < 2 else 1 if depth < 4 else 0
        count = low if depth >= MAX_DEPTH else rng.randint(min(max(low, 1), high), min(high, max(low, 1) + spread))
        out: list[Any] = []
        contains = schema.get("contains")
        if contains is not None and count > 0 and not prefix:
            out.append(self.value(contains, depth + 1))
        unique = schema.get("uniqueItems") is True
        attempts = 0
        while len(out) < count and attempts < count * 8 + 8:
            attempts += 1
            position = len(out)
            item = self.value(prefix[position] if position < len(prefix) else items, depth + 1)
            if unique and any(_same(item, seen) for seen in out):
                continue
            out.append(item)
        if unique and len(out) < count and isinstance(items, dict):  # few possible values: draws kept repeating
            left = [v for v in _finite(items) if not any(_same(v, seen) for seen in out)]
            rng.shuffle(left)
            out += left[:count - len(out)]
        return out

    # -- scalars --------------------------------------------------------------------------------
    def string(self, schema: dict[str, Any]) -> str:
        rng = self.rng
        low = min(_int(schema.get("minLength")), MAX_SIZE * 10)
        high = schema.get("maxLength")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            for _ in range(8):
                text = regex_instance(pattern, rng)
                if text is not None and len(text) >= low and (not isinstance(high, int) or len(text) <= high):
                    return text
        fmt = schema.get("format")
        maker = FORMATS.get(fmt) if isinstance(fmt, str) else None
        if maker is not None:
            return maker(rng)
        high = high if isinstance(high, int) else max(low, 24) + 16
        target = rng.randint(min(max(low, 3), high), min(high, max(low, 3) + 24)) if high > 0 else 0
        words: list[str] = []
        size = -1
        while size < target:
            word = rng.choice(WORDS)
            words.append(word)
            size += len(word) + 1
        text = " ".join(words)[:target]
        return text[:-1] + "x" if text.endswith(" ") else text

    def integer(self, schema: dict[str, Any]) -> int:
        low, high = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
            if not math.isfinite(low / step) or not math.isfinite(high / step):  # a step too small for the bounds
                return 0 if low <= 0 <= high else int(low)
            first, last = math.ceil(low / step), math.floor(high / step)
            for _ in range(8):
                k = self.rng.randint(first, last) if first <= last else first
                value = k * step
                if float(value).is_integer() and _multiple(value, step):
                    return int(value)
            return int(first * step)
        return self.rng.randint(low, high) if low <= high else low

    def number(self, schema: dict[str, Any]) -> float | int:
        low, high = _bounds(schema, integer=False)
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
            if not math.isfinite(low / step) or not math.isfinite(high / step):  # a step too small for the bounds
                return 0 if low <= 0 <= high else low
            first, last = math.ceil(low / step), math.floor(high / step)
            for _ in range(16):
                k = self.rng.randint(first, last) if first <= last else first
                value = round(k * step, 12)
                if _multiple(value, step) and low <= value <= high:
                    return value
            return 0 if low <= 0 <= high else first * step
        value = round(self.rng.uniform(low, high), 2)
        if not low <= value <= high:
            value = low
        return value


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[Any, Any]:
    """Inclusive bounds from minimum/maximum/exclusive*, in draft 4 (boolean) and later (number) forms."""
    nudge = 1 if integer else 0.01
    low = schema.get("minimum")
    high = schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_low is True and _num(low):
        low = low + nudge
    elif _num(ex_low):
        low = max(low, ex_low + nudge) if _num(low) else ex_low + nudge
    if ex_high is True and _num(high):
        high = high - nudge
    elif _num(ex_high):
        high = min(high, ex_high - nudge) if _num(high) else ex_high - nudge
    low = low if _num(low) else None
    high = high if _num(high) else None
    if low is None and high is None:
        low, high = (0, 100) if integer else (0.0, 100.0)
    elif low is None:
        low = high - 100
    elif high is None:
        high = low + 100
    if integer:
        low, high = math.ceil(low), math.floor(high)
    return low, high


def _int(value: Any) -> int:
    return int(value) if _num(value) else 0


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _multiple(value: float, step: float) -> bool:
    """The divisibility test validators apply (float quotient must be integral)."""
    if isinstance(step, float) or isinstance(value, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % step == 0


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _finite(schema: dict[str, Any]) -> list[Any]:
    """Every value a schema allows, when there are only a few (an enum, a const, booleans); else none."""
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return [False, True] if schema.get("type") == "boolean" else []


# -- string formats ----------------------------------------------------------------------------

def _date(rng: random.Random) -> str:
    return f"{rng.randint(2015, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


FORMATS: dict[str, Any] = {
    "date-time": lambda rng: f"{_date(rng)}T{_time(rng)}",
    "date": _date,
    "time": _time,
    "duration": lambda rng: f"P{rng.randint(1, 30)}DT{rng.randint(1, 23)}H",
    "email": lambda rng: f"{_word(rng)}.{_word(rng)}@example.com",
    "idn-email": lambda rng: f"{_word(rng)}@example.com",
    "hostname": lambda rng: f"{_word(rng)}.example.com",
    "idn-hostname": lambda rng: f"{_word(rng)}.example.com",
    "ipv4": lambda rng: ".".join(str(rng.randint(1, 254)) for _ in range(4)),
    "ipv6": lambda rng: ":".join(f"{rng.getrandbits(16):x}" for _ in range(8)),
    "uri": lambda rng: f"https://example.com/{_word(rng)}/{_word(rng)}",
    "url": lambda rng: f"https://example.com/{_word(rng)}/{_word(rng)}",
    "iri": lambda rng: f"https://example.com/{_word(rng)}",
    "uri-reference": lambda rng: f"/{_word(rng)}/{_word(rng)}",
    "iri-reference": lambda rng: f"/{_word(rng)}",
    "uri-template": lambda rng: f"https://example.com/{_word(rng)}/{{id}}",
    "uuid": _uuid,
    "json-pointer": lambda rng: f"/{_word(rng)}/{rng.randint(0, 9)}",
    "relative-json-pointer": lambda rng: f"{rng.randint(0, 3)}/{_word(rng)}",
    "regex": lambda rng: f"^{_word(rng)}$",
    "byte": lambda rng: "aGVsbG8gd29ybGQ=",
}


# -- regular expressions -----------------------------------------------------------------------

_CATEGORIES = {
    sre.CATEGORY_DIGIT: "0123456789",
    sre.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    sre.CATEGORY_SPACE: " ",
    sre.CATEGORY_NOT_DIGIT: "abcdefghijklmnopqrstuvwxyz",
    sre.CATEGORY_NOT_WORD: " -.,",
    sre.CATEGORY_NOT_SPACE: "abcdefghijklmnopqrstuvwxyz0123456789",
}
_PRINTABLE = [chr(c) for c in range(32, 127)]


@functools.lru_cache(maxsize=1024)
def parse_regex(pattern: str) -> Any:
    """The pattern as the `re` module's own parser reads it (`re._parser`, an interpreter internal: no public
    API gives a pattern's structure), or None if it does not parse. Its tokens are walked by `_emit`;
    tests/test_internals.py fails loudly if the structure changes. Cached, and bounded."""
    try:
        return sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


def regex_instance(pattern: str, rng: random.Random) -> str | None:
    """A string containing a match of `pattern`, or None if the pattern is beyond this generator."""
    parsed = parse_regex(pattern)
    if parsed is None:
        return None
    try:
        groups: dict[int, str] = {}
        text = _emit(parsed, rng, groups)
    except _Unsupported:
        return None
    return text if re.search(pattern, text) else None


class _Unsupported(Exception):
    pass


def _emit(tokens: Any, rng: random.Random, groups: dict[int, str]) -> str:
    out: list[str] = []
    for op, arg in tokens:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.NOT_LITERAL:
            out.append(rng.choice([c for c in "abcxyz019" if ord(c) != arg]))
        elif op is sre.ANY:
            out.append(rng.choice("abcdefghijklmnopqrstuvwxyz"))
        elif op is sre.IN:
            out.append(_char_in(arg, rng))
        elif op is sre.BRANCH:
            out.append(_emit(rng.choice(arg[1]), rng, groups))
        elif op is sre.SUBPATTERN:
            group, _, _, inner = arg
            text = _emit(inner, rng, groups)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            low, high, inner = arg
            if low > MAX_SIZE:
                raise _Unsupported("repeat")
            high = low + 3 if high is sre.MAXREPEAT else high
            out.extend(_emit(inner, rng, groups) for _ in range(rng.randint(low, min(high, low + 3))))
        elif op is sre.GROUPREF:
            out.append(groups.get(arg, ""))
        elif op is sre.AT:
            continue
        elif op is sre.ATOMIC_GROUP:
            out.append(_emit(arg, rng, groups))
        else:  # lookarounds, conditionals
            raise _Unsupported(op)
    return "".join(out)


def _char_in(items: list[Any], rng: random.Random) -> str:
    negate = bool(items) and items[0][0] is sre.NEGATE
    if negate:
        allowed = [c for c in _PRINTABLE if not _matches_set(c, items[1:])]
        if not allowed:
            raise _Unsupported("empty set")
        return rng.choice(allowed)
    op, arg = rng.choice(items)
    if op is sre.LITERAL:
        return chr(arg)
    if op is sre.RANGE:
        return chr(rng.randint(arg[0], arg[1]))
    if op is sre.CATEGORY:
        return rng.choice(_CATEGORIES.get(arg, "a"))
    raise _Unsupported(op)


def _matches_set(char: str, items: list[Any]) -> bool:
    code = ord(char)
    for op, arg in items:
        if (op is sre.LITERAL and arg == code) or (op is sre.RANGE and arg[0] <= code <= arg[1]):
            return True
        if op is sre.CATEGORY and re.fullmatch(_CATEGORY_RE.get(arg, "(?!)"), char):
            return True
    return False


_CATEGORY_RE = {
    sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D", sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W", sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_NOT_SPACE: r"\S",
}
