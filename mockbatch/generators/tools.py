"""Tool calls for chat completions and Responses: which tools are called, and their arguments.

`tool_choice` is followed: `none` calls nothing, `required` calls at least one tool, a named tool is
called alone, `allowed_tools` narrows the set, and `auto` (the default) calls a tool on a seeded coin
toss (AUTO_CALL_RATE). When parallel tool calls are allowed and several tools qualify, a second,
different tool is sometimes called too. Function arguments are a JSON instance of the tool's parameter
schema; custom (free-form) tools get a short text input. A call costs the tokens of its name and
arguments; the call that would overrun the answer's token budget is cut and is the last (`make_calls`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mockbatch.generators import schema
from mockbatch.generators.base import text, too_long
from mockbatch.tokens import estimate_tokens

Item = TypeVar("Item")

AUTO_CALL_RATE = 0.5
PARALLEL_RATE = 0.25
MAX_NAME = 64  # a function's name (openapi); every call of it writes the name again


def long_name(entries: Any, key: str, nested: bool) -> dict[str, Any] | None:
    """The real 400 for the first tool in `body[key]` whose name is over MAX_NAME; `nested`: the chat form, with
    the name inside `function`/`custom`."""
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type", "function") if nested else None
        spec = entry.get(kind) if isinstance(kind, str) else entry
        if isinstance(spec, dict):
            problem = too_long(f"{key}[{i}].{kind}.name" if kind else f"{key}[{i}].name", spec.get("name"), MAX_NAME)
            if problem is not None:
                return problem
    return None


@dataclass(frozen=True)
class Tool:
    name: str
    kind: str  # "function" or "custom"
    parameters: Any = None


def from_chat(tools: Any) -> list[Tool]:
    """Chat `tools`: `{"type": "function", "function": {...}}` and `{"type": "custom", "custom": {...}}`."""
    out = []
    for entry in tools if isinstance(tools, list) else []:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type", "function")
        spec = entry.get(kind)
        if kind in ("function", "custom") and isinstance(spec, dict) and isinstance(spec.get("name"), str):
            out.append(Tool(spec["name"], kind, spec.get("parameters")))
    return out


def from_chat_functions(functions: Any) -> list[Tool]:
    """The deprecated chat `functions` list."""
    if not isinstance(functions, list):
        return []
    return [Tool(f["name"], "function", f.get("parameters")) for f in functions
            if isinstance(f, dict) and isinstance(f.get("name"), str)]


def from_responses(tools: Any) -> list[Tool]:
    """Responses `tools`: flat `{"type": "function", "name", "parameters"}` and `{"type": "custom", "name"}`."""
    out = []
    for entry in tools if isinstance(tools, list) else []:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind in ("function", "custom") and isinstance(entry.get("name"), str):
            out.append(Tool(entry["name"], entry["type"], entry.get("parameters")))
    return out


def _named(choice: dict[str, Any]) -> str | None:
    """The tool a choice object names, in the chat (nested) or Responses (flat) form."""
    kind = choice.get("type")
    nested = choice.get(kind) if isinstance(kind, str) else None
    if isinstance(nested, dict) and isinstance(nested.get("name"), str):
        return nested["name"]
    name = choice.get("name")
    return name if isinstance(name, str) else None


def choose(rng: random.Random, tools: list[Tool], choice: Any, parallel: bool) -> list[Tool]:
    """The tools one answer calls, in call order."""
    if not tools or choice == "none":
        return []
    mode = "auto"
    pool = tools
    if choice == "required":
        mode = "required"
    elif isinstance(choice, dict):
        if choice.get("type") == "allowed_tools":
            spec = choice.get("allowed_tools") if isinstance(choice.get("allowed_tools"), dict) else choice
            allowed = {_named(t) for t in spec.get("tools", []) if isinstance(t, dict)}
            pool = [t for t in tools if t.name in allowed]
            mode = "required" if spec.get("mode") == "required" else "auto"
        else:
            name = _named(choice)
            return [t for t in tools if t.name == name][:1]
    if not pool or (mode == "auto" and rng.random() >= AUTO_CALL_RATE):
        return []
    count = 2 if parallel and len(pool) > 1 and rng.random() < PARALLEL_RATE else 1
    return rng.sample(pool, count)


def arguments(rng: random.Random, tool: Tool) -> str:
    """A function's arguments as compact JSON, or a custom tool's free-form input."""
    if tool.kind == "custom":
        return text(rng, 1, 1)
    params = tool.parameters if isinstance(tool.parameters, dict) else {}
    if "type" not in params and not any(k in params for k in ("$ref", "anyOf", "oneOf", "allOf")):
        params = {"type": "object", **params}
    return json.dumps(schema.instance(params, rng), separators=(",", ":"), ensure_ascii=False)


def make_calls(rng: random.Random, chosen: list[Tool], budget: int,
               item: Callable[[Tool, str, bool], Item]) -> tuple[list[Item], int, bool]:
    """The chosen tools' calls, in order, spending `budget` tokens: the call that would overrun it has its
    arguments cut to what is left (four characters a token) and is the last made. `item(tool, arguments, cut)`
    writes one call out, before the next call's arguments are drawn: an item drawing its id from `rng` (Responses)
    draws it in that order, which the output depends on. Returns the items, the tokens spent, whether one was cut."""
    made: list[Item] = []
    spent, cut = 0, False
    for tool in chosen:
        args = arguments(rng, tool)
        name = estimate_tokens(tool.name)
        cut = name + estimate_tokens(args) > budget - spent
        if cut:
            args = args[:max(budget - spent - name, 0) * 4]
        spent += name + estimate_tokens(args)
        made.append(item(tool, args, cut))
        if cut:
            break
    return made, spent, cut
