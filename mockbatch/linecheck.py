"""Per-line request validation: each batch endpoint's official request schema, compiled once into checker closures.

The schemas are data, mockbatch/data/requests.json: the eight request bodies of OpenAI's OpenAPI description
(openai/openai-openapi at commit f85dbe2) with every schema they reach as a local `$defs` table, validation keywords
only, and a few recorded findings patched in. tests/tools/request_schemas.py regenerates it from the description.

`check(endpoint, body, model)` gives None, or the line's first problem as (message, param, code) in the real API's
words (errors.py holds the shared wording); the generator wrapper turns it into the line's 400. What is checked:
required parameters at any depth, types, enums and consts, numeric ranges, string and array lengths, property counts,
patterns, unknown parameters (an object schema with properties and no `additionalProperties` is closed, as the real
API is), then parameters a reasoning model does not take. Reading a body costs a few dict lookups per value: a
schema is compiled into `Node`s, each the Python types its value may have and, when a type test is not all there is
to it, a `check` closure; a message is only worded once a line fails, on the way back up (`Fail`).

Unions (anyOf/oneOf) take a value one of their branches takes (oneOf's "exactly one" is not insisted on). The branch
tried is picked by the value's type and, for an object, by its discriminator (`type`, `role`: the property whose
enum tells the branches apart); a failing value gets the message of the branch it was meant for, else of the branch
it got furthest into.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from mockbatch import catalog
from mockbatch.errors import (
    TYPE_WORDS,
    json_kind,
    length_above,
    length_below,
    range_problem,
    type_message,
    value_message,
)

DATA = Path(__file__).with_name("data") / "requests.json"
# Where a top-level unknown parameter gets the legacy words ("Unrecognized request argument supplied: foo", with
# neither param nor code): chat completions (recorded), and, chosen, the other two endpoints of that generation.
LEGACY = frozenset({catalog.CHAT, catalog.COMPLETIONS, catalog.EMBEDDINGS})
# Parameters the schema leaves alone (known, anything goes in them): those a generator checks itself with the real
# API's own words, which the schema's would replace (embeddings' `input`: "'$.input' is invalid. ..."), and an
# edit's `image`/`images` on an image generation's line, which its generator bounds (chosen; tests/test_limits.py).
UNCHECKED: dict[str, frozenset[str]] = {catalog.EMBEDDINGS: frozenset({"input"}),
                                        catalog.IMAGES_GENERATIONS: frozenset({"image", "images"})}
# Parameters reasoning models refuse ("Unsupported parameter: 'temperature' is not supported with this model.");
# chat's `max_tokens` has its own words, in generators/chat.py. A parameter counts when given, not null (nor false).
UNSUPPORTED_WITH_REASONING: dict[str, tuple[str, ...]] = {
    catalog.CHAT: ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
                   "logit_bias"),
    catalog.RESPONSES: ("temperature", "top_p"),
}

Problem = tuple[str, str | None, str | None]
NONE = type(None)
MISS = object()
PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
    "object": (dict,), "null": (NONE,),
}
ANY = frozenset({str, int, float, bool, list, dict, NONE})
# A value's Python type -> how a message names it, as `errors.json_type` does.
_NOUNS = {"string": "strings", "integer": "integers", "number": "decimals", "boolean": "booleans", "array": "arrays",
          "object": "objects"}


class Fail:
    """A failed check: how to word it once the path is known, and the path, segment by segment, innermost first
    (each level adds its own on the way back up)."""

    __slots__ = ("kind", "path", "word")

    def __init__(self, kind: str, word: Callable[[str], tuple[str, str | None]]) -> None:
        self.kind = kind  # "type", "missing", "unknown", "value", ...: a union prefers a branch failing on no type
        self.word = word  # param -> (message, code)
        self.path: list[str | int] = []

    def at(self, segment: str | int) -> Fail:
        self.path.append(segment)
        return self


def param(path: list[str | int]) -> str:
    """`messages[0].content[1].image_url.url` from the reversed segments."""
    out = ""
    for segment in reversed(path):
        out += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if out else segment)
    return out


class Node:
    """A compiled schema: the Python types its value may have, what a type error says it expected, and `table`:
    for each type a JSON value can have, the check of a value of that type (None: the type says it all; a type
    the schema refuses: a check failing on the type). Reading a value is one lookup, and a call if there is more."""

    __slots__ = ("dispatch", "expected", "table", "types")

    def __init__(self, types: frozenset[type], check: Callable[[Any], Fail | None] | None, expected: str,
                 per_type: dict[type, Callable[[Any], Fail | None] | None] | None = None) -> None:
        self.types, self.expected = types, expected
        self.dispatch: tuple[str, dict[str, Callable[[Any], Fail | None]]] | None = None  # see Compiler.union

        def bad(value: Any) -> Fail:
            return type_fail(expected, value)
        self.table = {t: (per_type.get(t) if per_type is not None else check) if t in types else bad for t in ANY}

    def run(self, value: Any) -> Fail | None:
        check = self.table[type(value)]
        return None if check is None else check(value)


def type_fail(expected: str, value: Any) -> Fail:
    return Fail("type", lambda p: (type_message(p, expected, value), "invalid_type"))


class Compiler:
    """Schemas -> Nodes, each `$ref` compiled once (a recursive one through a forwarding node)."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.done: dict[str, Node] = {}
        self.busy: set[str] = set()
        self.trusted: dict[tuple[str, str], Callable[[Any], Fail | None] | None] = {}

    # -- references and shapes ---------------------------------------------------------------------------------
    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A schema that is only a `$ref` (plus what its target implies): the target."""
        seen = 0
        while set(schema) <= {"$ref", "type"} and "$ref" in schema and seen < 50:
            schema, seen = self.defs[schema["$ref"].rsplit("/", 1)[1]], seen + 1
        return schema

    def ref(self, name: str) -> Node:
        node = self.done.get(name)
        if node is not None:
            return node
        if name in self.busy:  # recursion: forward to the node once it exists
            return Node(ANY, lambda v: self.done[name].run(v), "an object")
        self.busy.add(name)
        node = self.done[name] = self.compile(self.defs[name])
        self.busy.discard(name)
        return node

    def compile(self, schema: Any) -> Node:
        if schema is True or schema == {}:
            return Node(ANY, None, "a value")
        if schema is False:
            return Node(frozenset(), None, "nothing")
        if "$ref" in schema:
            if set(schema) <= {"$ref", "type"}:
                return self.ref(schema["$ref"].rsplit("/", 1)[1])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return self.compile({"allOf": [{"$ref": schema["$ref"]}, rest]})
        if "allOf" in schema:
            return self.all_of(schema)
        if "anyOf" in schema or "oneOf" in schema:
            return self.union(schema)
        return self.plain(schema)

    # -- one type (or a few) and its keywords --------------------------------------------------------------------
    def declared(self, schema: dict[str, Any]) -> list[str] | None:
        kind = schema.get("type")
        kinds = [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, list) else None
        if kinds is None and "enum" in schema:
            kinds = sorted({json_kind(v) for v in schema["enum"]})
        if kinds is None and "const" in schema:
            kinds = [json_kind(schema["const"])]
        if kinds is not None and schema.get("nullable") and "null" not in kinds:
            kinds.append("null")
        return kinds

    def plain(self, schema: dict[str, Any]) -> Node:
        kinds = self.declared(schema)
        types = ANY if kinds is None else frozenset(t for k in kinds for t in PY_TYPES[k])
        checks: dict[type, Callable[[Any], Fail | None]] = {}
        for kind in kinds or ["string", "integer", "number", "array", "object"]:
            made = self.keywords(schema, kind)
            if made is not None:
                for t in PY_TYPES[kind]:
                    if t not in checks or kind == "integer":  # an int checked as an integer, a float as a number
                        checks[t] = made
        if "not" in schema:
            forbidden = self.compile(schema["not"])
            checks = {t: _with_not(checks.get(t), forbidden, schema["not"]) for t in types}
        enum = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if enum is not None:
            checks = {t: _with_enum(checks.get(t), enum) for t in types if t is not NONE}
        return Node(types, None, describe(self, schema), checks)

    def keywords(self, schema: dict[str, Any], kind: str) -> Callable[[Any], Fail | None] | None:
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number_check(schema, kind)
        if kind == "array":
            return self.array(schema)
        if kind == "object":
            return self.object(schema)
        return None

    def array(self, schema: dict[str, Any]) -> Callable[[Any], Fail | None] | None:
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        items = schema.get("items")
        node = self.compile(items) if isinstance(items, dict | bool) and items != {} and items is not True else None
        prefix = [self.compile(s) for s in schema.get("prefixItems", [])]
        if not low and high is None and node is None and not prefix:
            return None
        table = node.table if node is not None else dict.fromkeys(ANY)
        sized = bool(low) or high is not None
        # Items of a union told apart by a discriminator (chat messages by `role`): the branch found here, inline.
        prop, single = getattr(node, "dispatch", None) or (None, {})

        def array(value: list[Any]) -> Fail | None:
            if sized:
                size = len(value)
                if size < low:
                    return Fail("length", lambda p: length_below("array", p, low, size))
                if high is not None and size > high:
                    return Fail("length", lambda p: length_above("array", p, high, size))
            start = 0
            if prefix:
                for start, item in enumerate(value[:len(prefix)], 1):
                    problem = prefix[start - 1].run(item)
                    if problem is not None:
                        return problem.at(start - 1)
            if start:
                for i, item in enumerate(value[start:], start):
                    check = table[type(item)]
                    if check is not None:
                        problem = check(item)
                        if problem is not None:
                            return problem.at(i)
                return None
            for item in value:  # the usual array: no index kept, until one is needed
                check = table[type(item)]
                if prop is not None and type(item) is dict:
                    key = item.get(prop)
                    if type(key) is str:
                        check = single.get(key, check)
                if check is not None and check(item) is not None:
                    return find(value)
            return None

        def find(value: list[Any]) -> Fail | None:
            for i, item in enumerate(value):
                problem = node.run(item)  # type: ignore[union-attr]
                if problem is not None:
                    return problem.at(i)
            return None
        return array

    def object(self, schema: dict[str, Any]) -> Callable[[Any], Fail | None] | None:
        names = list(schema.get("properties", {}))
        props = {name: self.compile(s) for name, s in schema.get("properties", {}).items()}
        required = tuple(schema.get("required", ()))
        extra_schema = schema.get("additionalProperties")
        # Closed: properties listed and no `additionalProperties` (the real API refuses unknown parameters there).
        closed = extra_schema is False or (extra_schema is None and bool(props))
        extra = None if extra_schema in (None, True, False, {}) else self.compile(extra_schema)
        low, high = schema.get("minProperties", 0), schema.get("maxProperties")
        if not props and not required and not closed and extra is None and not low and high is None:
            return None
        get = {name: node.table for name, node in props.items()}.get
        extra_table = extra.table if extra is not None else None
        counted = bool(low) or high is not None

        def explain(value: dict[str, Any]) -> Fail | None:
            """The first problem, in a fixed order whatever the body's key order: unknown parameters (as they come),
            then the properties in the schema's order, then the other properties as they come."""
            if closed:
                for key in value:
                    if key not in props:
                        return Fail("unknown", lambda p: (f"Unknown parameter: '{p}'.", "unknown_parameter")).at(key)
            for key in names:
                if key in value:
                    problem = props[key].run(value[key])
                    if problem is not None:
                        return problem.at(key)
            for key, item in value.items():
                if key not in props and extra is not None:
                    problem = extra.run(item)
                    if problem is not None:
                        return problem.at(key)
            return None

        def check(value: dict[str, Any]) -> Fail | None:
            for key in required:
                if key not in value:
                    return Fail("missing", lambda p: (f"Missing required parameter: '{p}'.",
                                                      "missing_required_parameter")).at(key)
            for key, item in value.items():
                table = get(key)
                if table is None:
                    if closed:
                        return explain(value)
                    table = extra_table
                    if table is None:
                        continue
                check = table[type(item)]
                if check is not None and check(item) is not None:
                    return explain(value)
            if not counted:
                return None
            size = len(value)
            if size < low:
                return Fail("length", lambda p: (f"Invalid '{p}': too few properties. Expected an object with at least "
                                                 f"{low} properties, but got an object with {size} properties instead.",
                                                 "object_below_min_properties"))
            if high is not None and size > high:
                return Fail("length", lambda p: (
                    f"Invalid '{p}': too many properties. Expected an object with at most {high} properties, but got "
                    f"an object with {size} properties instead.", "object_above_max_properties"))
            return None
        return check

    # -- combinations ------------------------------------------------------------------------------------------
    def all_of(self, schema: dict[str, Any]) -> Node:
        """allOf of object schemas (how the description builds a request from shared parts) -> one object schema:
        properties merged, a later part's definition of a property replacing an earlier one's, required joined."""
        parts = self.flat_all(schema)
        if all(not ({"anyOf", "oneOf", "not"} & set(p)) for p in parts):
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in parts:
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += [r for r in part.get("required", []) if r not in merged["required"]]
                for key in ("additionalProperties", "minProperties", "maxProperties", "nullable"):
                    if key in part:
                        merged[key] = part[key]
            return self.plain(merged)
        nodes = [self.compile(p) for p in parts]
        types = frozenset.intersection(*(n.types for n in nodes))

        def every(value: Any) -> Fail | None:
            for node in nodes:
                problem = node.run(value)
                if problem is not None:
                    return problem
            return None
        return Node(types, every, nodes[0].expected)

    def flat_all(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        if set(rest) - {"type"}:
            out.append(rest)
        for part in schema["allOf"]:
            part = self.resolve(part)
            out += self.flat_all(part) if "allOf" in part else [part]
        return out

    def leaves(self, schema: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
        """A union's branches, nested unions (and the `$ref`s naming them) opened up; a branch that is not a union
        stays as it was written (a `$ref` is compiled once, and recursion goes through it)."""
        target = self.resolve(schema)
        branches = target.get("anyOf", target.get("oneOf"))
        rest = set(target) - {"anyOf", "oneOf", "discriminator", "nullable", "type"}
        if branches is None or rest or depth > 8:
            return [schema]
        out = [leaf for b in branches for leaf in self.leaves(b, depth + 1)]
        if target.get("nullable"):
            out.append({"type": "null"})
        return out

    def union(self, schema: dict[str, Any]) -> Node:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "discriminator", "nullable", "type")}
        if rest:  # a union beside other keywords (ImageRefParam): both must hold
            return self.all_of({"allOf": [rest, {k: v for k, v in schema.items() if k not in rest}]})
        written = self.leaves(schema)
        nodes = [self.compile(leaf) for leaf in written]
        leaves = [self.resolve(leaf) for leaf in written]
        declared = self.declared({k: v for k, v in schema.items() if k in ("type", "nullable")}) \
            if "type" in schema else None
        allowed = ANY if declared is None else frozenset(t for k in declared for t in PY_TYPES[k])
        if schema.get("nullable"):
            allowed |= {NONE}
        types = frozenset(t for n in nodes for t in n.types) & allowed
        by_type = {t: [n for n in nodes if t in n.types] for t in types}
        expected = _one_of(self, leaves)
        prop = (schema.get("discriminator") or {}).get("propertyName") or self.discriminator(leaves)
        table: dict[str, list[Node]] = {}
        absent: list[Node] = []
        values: list[str] = []
        if prop is not None:
            for leaf, node in zip(leaves, nodes, strict=True):
                if dict not in node.types:
                    continue
                own = self.values(leaf, prop)
                if own is None or prop not in self.resolve(leaf).get("required", ()):
                    absent.append(node)
                for value in own if own is not None else ():
                    table.setdefault(value, [])
                    if value not in values:
                        values.append(value)
            for leaf, node in zip(leaves, nodes, strict=True):  # each value's branches, in the union's order
                if dict not in node.types:
                    continue
                own = self.values(leaf, prop)
                for value in values:
                    if own is None or value in own:
                        table[value].append(node)
        open_ = [n for leaf, n in zip(leaves, nodes, strict=True)
                 if prop is not None and dict in n.types and self.values(leaf, prop) is None]

        # A discriminator value with one branch: that branch's check of an object (None: none), compiled once more
        # without the discriminator's own check, which finding the branch has made.
        trusted = {id(node): self.trusting(leaf, node, prop) for leaf, node in zip(written, nodes, strict=True)
                   if prop is not None and dict in node.types}
        single = {value: trusted[id(found[0])] for value, found in table.items() if len(found) == 1}

        def pick(value: Any) -> list[Node] | Fail:
            if prop is None or type(value) is not dict:
                return by_type[type(value)]
            if prop not in value:
                if absent:
                    return absent
                return Fail("missing", lambda p: (f"Missing required parameter: '{p}'.",
                                                  "missing_required_parameter")).at(prop)
            key = value[prop]
            found = table.get(key) if type(key) is str else None
            if found:
                return found
            if open_:
                return open_
            if type(key) is not str:
                return type_fail("a string", key).at(prop)
            return Fail("value", lambda p: (value_message(key, values), "invalid_value")).at(prop)

        def check(value: Any) -> Fail | None:
            candidates = pick(value)
            if type(candidates) is Fail:
                return candidates
            best: Fail | None = None
            for node in candidates:
                problem = node.run(value)
                if problem is None:
                    return None
                if best is None or _rank(problem) > _rank(best):
                    best = problem
            return best

        def discriminated(value: dict[str, Any]) -> Fail | None:
            key = value.get(prop)
            if type(key) is str:
                leaf = single.get(key, MISS)
                if leaf is not MISS:
                    return None if leaf is None else leaf(value)
            return check(value)

        dispatch = (prop, {k: v if v is not None else _nothing for k, v in single.items()}) if prop else None
        per_type: dict[type, Callable[[Any], Fail | None] | None] = {}
        for t, found in by_type.items():
            if t is dict and prop is not None:
                per_type[t] = discriminated
            elif len(found) == 1:  # one branch takes this type: its own check, no union in between
                per_type[t] = found[0].table[t]
            else:
                per_type[t] = check
        node = Node(types, None, expected, per_type)
        node.dispatch = dispatch
        return node

    def trusting(self, written: dict[str, Any], node: Node, prop: str) -> Callable[[Any], Fail | None] | None:
        """A union branch's check of an object whose discriminator is known to be one the branch takes: for a named
        branch, compiled once more without the discriminator's own check; else the branch's check."""
        name = written.get("$ref", "").rsplit("/", 1)[-1] if set(written) == {"$ref"} else ""
        leaf = self.defs.get(name)
        if leaf is None or prop not in leaf.get("properties", {}) or set(leaf) & {"allOf", "anyOf", "oneOf", "not"}:
            return node.table[dict]
        key = (name, prop)
        if key not in self.trusted:
            self.trusted[key] = node.table[dict]  # while it is being made (recursion): the branch's own check
            self.trusted[key] = self.plain({**leaf, "properties": {**leaf["properties"], prop: True}}).table[dict]
        return self.trusted[key]

    def values(self, leaf: dict[str, Any], prop: str | None) -> list[str] | None:
        """The discriminator values a branch takes (its property's enum or const), None if any."""
        spec = self.resolve(self.resolve(leaf).get("properties", {}).get(prop, {})) if prop else {}
        if "anyOf" in spec:  # ItemReferenceParam's `type`: the value or null
            spec = next((b for b in spec["anyOf"] if "enum" in b or "const" in b), spec)
        if "enum" in spec:
            return [v for v in spec["enum"] if isinstance(v, str)]
        if "const" in spec:
            return [spec["const"]] if isinstance(spec["const"], str) else None
        return None

    def discriminator(self, leaves: list[dict[str, Any]]) -> str | None:
        """The property telling a union's object branches apart, when the description names none: `type` or `role`
        if every object branch fixes it."""
        objects = [leaf for leaf in (self.resolve(x) for x in leaves) if "properties" in leaf]
        if len(objects) < 2:
            return None
        for prop in ("type", "role"):
            if all(self.values(leaf, prop) for leaf in objects):
                return prop
        return None


def _rank(problem: Fail) -> tuple[bool, int]:
    """How far a branch's failure got: a failure on a type is the value not being meant for that branch."""
    return problem.kind not in ("type", "missing"), len(problem.path)


def _with_enum(inner: Callable[[Any], Fail | None] | None, enum: list[Any]) -> Callable[[Any], Fail | None]:
    listed = [v if isinstance(v, str) else json.dumps(v) for v in enum]
    if all(isinstance(v, str) for v in enum):  # the usual enum, of strings (its value is a string by now)
        strings = frozenset(enum)

        def check_string(value: Any) -> Fail | None:
            if value not in strings:
                return Fail("value", lambda p: (value_message(value, listed), "invalid_value"))
            return None if inner is None else inner(value)
        return check_string
    allowed = {(type(v), v) for v in enum}  # True is not 1 here

    def check(value: Any) -> Fail | None:
        scalar = type(value) in (str, int, float, bool)
        if ((type(value), value) not in allowed) if scalar else (value not in enum):
            return Fail("value", lambda p: (value_message(value, listed), "invalid_value"))
        return None if inner is None else inner(value)
    return check


def _with_not(inner: Callable[[Any], Fail | None] | None, node: Node, schema: dict[str, Any]):
    both = schema.get("required", [])

    def check(value: Any) -> Fail | None:
        if node.run(value) is None:  # the forbidden shape: ImageRefParam's `not: {required: [image_url, file_id]}`
            names = " or ".join(f"'{n}'" for n in both) or "this shape"
            return Fail("value", lambda p: (f"Invalid '{p}': expected only one of {names}, but got both instead."
                                            if both else f"Invalid '{p}': value not allowed.", "invalid_value"))
        return None if inner is None else inner(value)
    return check


def _string(schema: dict[str, Any]) -> Callable[[Any], Fail | None] | None:
    low, high, pattern = schema.get("minLength", 0), schema.get("maxLength"), schema.get("pattern")
    if not low and high is None and pattern is None:
        return None
    search = re.compile(pattern).search if pattern is not None else None

    def check(value: str) -> Fail | None:
        size = len(value)
        if size < low:
            return Fail("length", lambda p: length_below("string", p, low, size))
        if high is not None and size > high:
            return Fail("length", lambda p: length_above("string", p, high, size))
        if search is not None and search(value) is None:
            return Fail("value", lambda p: (f"Invalid '{p}': string does not match pattern. Expected a string that "
                                            f"matches the pattern '{pattern}'.", "invalid_value"))
        return None
    return check


def _number_check(schema: dict[str, Any], kind: str) -> Callable[[Any], Fail | None] | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_x, high_x = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if low is None and high is None and low_x is None and high_x is None:
        return None
    noun = "integer" if kind == "integer" else "decimal"

    def check(value: int | float) -> Fail | None:
        if (low is not None and value < low) or (high is not None and value > high):
            return Fail("range", lambda p: range_problem(p, value, low, high, noun))  # type: ignore[arg-type,return-value]
        for bound, above in ((low_x, False), (high_x, True)):
            if bound is not None and not isinstance(bound, bool) and (value >= bound if above else value <= bound):
                return Fail("range", lambda p, bound=bound, above=above: (
                    f"Invalid '{p}': {noun} {'above maximum' if above else 'below minimum'} value. Expected a value "
                    f"{'<' if above else '>'} {bound}, but got {value} instead.",
                    f"{noun}_{'above_max' if above else 'below_min'}_value"))
        return None
    return check


# -- what a type error says was expected ---------------------------------------------------------------------------
def _kinds(compiler: Compiler, schema: Any, depth: int = 0) -> list[tuple[str, str]]:
    """(kind, its words in a list) for each alternative a schema allows, null left out: `a string`,
    `array of objects`."""
    if not isinstance(schema, dict) or depth > 6:
        return []
    schema = compiler.resolve(schema)
    out: list[tuple[str, str]] = []
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            parts = schema[key] if key != "allOf" else schema[key][:1]
            for part in parts:
                out += [k for k in _kinds(compiler, part, depth + 1) if k not in out]
            if key != "allOf" or "type" not in schema:
                return out
    for kind in compiler.declared(schema) or (["object"] if "properties" in schema else []):
        if kind == "null":
            continue
        words = TYPE_WORDS[kind]
        if kind == "array":
            inner = {k for k, _ in _kinds(compiler, schema.get("items"), depth + 1)}
            words = f"array of {_NOUNS[inner.pop()]}" if len(inner) == 1 else "array"
        out.append((kind, words))
    return out


def describe(compiler: Compiler, schema: dict[str, Any]) -> str:
    return _words(_kinds(compiler, schema))


def _one_of(compiler: Compiler, leaves: list[dict[str, Any]]) -> str:
    found: list[tuple[str, str]] = []
    for leaf in leaves:
        found += [k for k in _kinds(compiler, leaf) if k not in found]
    return _words(found)


def _words(kinds: list[tuple[str, str]]) -> str:
    """`a string`, `an array of objects`; several: `one of a string or array of objects` (the real words)."""
    words = list(dict.fromkeys(w for _, w in kinds))
    if not words:
        return "a value"
    if len(words) == 1:
        return words[0] if not words[0].startswith("array") else "an " + words[0]
    return "one of " + (" or ".join(words) if len(words) == 2 else ", ".join(words[:-1]) + ", or " + words[-1])


# -- the endpoints ---------------------------------------------------------------------------------------------
@cache
def _data() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def checker(endpoint: str) -> Node | None:
    """The endpoint's compiled request schema (compiled on first use, then kept), None if it has none."""
    data = _data()
    root = data["endpoints"].get(endpoint)
    if root is None:
        return None
    compiler = Compiler(data["$defs"])
    if unchecked := UNCHECKED.get(endpoint):
        root = dict(compiler.resolve(root))
        root["properties"] = {**root["properties"], **dict.fromkeys(unchecked, True)}
    return compiler.compile(root)


@cache
def validator(endpoint: str) -> Callable[[dict[str, Any], catalog.Model | None], Problem | None]:
    """`check` for one endpoint, its schema compiled on the first line it reads (not at import: a worker or a
    server that never sees the endpoint never pays for it). A problem is worded only when there is one."""
    unsupported = UNSUPPORTED_WITH_REASONING.get(endpoint, ())
    run: Callable[[Any], Fail | None] | None = None

    def validate(body: dict[str, Any], model: catalog.Model | None = None) -> Problem | None:
        nonlocal run
        if run is None:
            node = checker(endpoint)
            run = (node.table[dict] if node is not None else None) or _nothing  # a body is an object
        problem = run(body)
        if problem is not None:
            return word(endpoint, problem)
        if unsupported and model is not None and model.reasoning:
            for name in unsupported:
                value = body.get(name)
                if value is not None and value is not False:
                    return (f"Unsupported parameter: '{name}' is not supported with this model.", name,
                            "unsupported_parameter")
        return None
    return validate


def _nothing(value: Any) -> None:
    return None


def check(endpoint: str, body: dict[str, Any], model: catalog.Model | None = None) -> Problem | None:
    """The request's first problem as (message, param, code), or None. `model`: the line's catalog model (its
    `reasoning` decides which parameters it takes)."""
    return validator(endpoint)(body, model)


def word(endpoint: str, problem: Fail) -> Problem:
    if problem.kind == "unknown" and len(problem.path) == 1 and endpoint in LEGACY:
        return f"Unrecognized request argument supplied: {problem.path[0]}", None, None
    where = param(problem.path)
    message, code = problem.word(where)
    return message, where or None, code
