"""/v1/chat/completions: a `chat.completion` object.

Follows `n`, `max_completion_tokens`/`max_tokens` (text cut, `finish_reason: "length"`; for reasoning
models the limit covers reasoning first, so a small limit leaves an empty answer, as it really does),
`stop`, `response_format` (`json_object`: a JSON object; `json_schema`: an instance of the schema),
`tools`/`tool_choice`/`parallel_tool_calls` (and the deprecated `functions`/`function_call`),
`logprobs`/`top_logprobs`, `reasoning_effort` and `service_tier`. The request schema (mockbatch/linecheck.py) has
been checked before; then reasoning models refuse `max_tokens`, and a token limit out of range, too many tools or a
tool name too long is refused, with the real 400 errors.
"""

from __future__ import annotations

import json
from functools import lru_cache, partial
from typing import Any

from mockbatch.errors import envelope
from mockbatch.generators import logprobs, schema, tools
from mockbatch.generators.base import (
    LINE_OUTPUT_TOKENS,
    WORDS,
    Generated,
    LineContext,
    Usage,
    content_tokens,
    dumps,
        estimate_tokens,
    fingerprint,
    json_string,
    json_tokens,
    out_of_range,
    positive_int,
    reasoning_tokens,
    text,
    too_long,
)

SERVICE_TIERS = ("default", "flex", "priority", "scale")


def prompt_tokens(body: dict[str, Any]) -> int:
    """Messages (text plus 4 tokens each, plus 3), tool definitions and any response schema."""
    messages = body.get("messages")
    total = 3
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict):
            content, calls = m.get("content"), m.get("tool_calls")
            total += 4 + (estimate_tokens(content) if type(content) is str else content_tokens(content))
            if calls is not None:
                total += json_tokens(calls)
    for key in ("tools", "functions"):
        if body.get(key) is not None:
            total += json_tokens(body[key])
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        total += json_tokens(fmt.get("json_schema"))
    return total


def answer(ctx: LineContext, fmt: Any) -> str:
    """The visible answer: prose, a JSON object, or an instance of the requested schema."""
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        target = spec.get("schema", {"type": "object"})
        return json.dumps(schema.instance(target, ctx.rng), separators=(",", ":"), ensure_ascii=False)
    if kind == "json_object":
        return json.dumps(json_object(ctx.rng), separators=(",", ":"), ensure_ascii=False)
    return text(ctx)


def json_object(rng: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for word in rng.sample(WORDS, rng.randint(2, 5)):
        roll = rng.random()
        out[word] = text(rng, 1, 1) if roll < 0.5 else rng.randint(0, 1000) if roll < 0.8 else roll < 0.9
    return out


def cut_at_stop(content: str, stop: Any) -> str:
    """The text before the first stop sequence (the sequence itself is not returned)."""
    if stop is None:
        return content
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    for s in stops:
        at = content.find(s) if isinstance(s, str) and s else -1
        if at >= 0:
            content = content[:at]
    return content


# What the request schema (mockbatch/linecheck.py, run before) does not say: the token limits' range (the schema
# has none), the number of `tools` (chosen as `functions`' 128) and the length of a tool's name (64, as the real API).
LIMITS = {"max_tokens": (1, 2**31 - 1), "max_completion_tokens": (1, 2**31 - 1)}
TOOLS = frozenset({"tools", "functions"})


def check(body: dict[str, Any], ctx: LineContext) -> dict[str, Any] | None:
    problem = None
    for name, (low, high) in LIMITS.items():  # `out_of_range`, inline: every line has a limit or two to look at
        value = body.get(name)
        if type(value) is int and not low <= value <= high:
            problem = out_of_range(body, {name: (low, high)})
            break
    if problem is None and not TOOLS.isdisjoint(body):  # most lines have neither: one set test
        problem = (too_long("tools", body.get("tools"), 128) or tools.long_name(body.get("tools"), "tools", True)
                   or tools.long_name(body.get("functions"), "functions", False))
    if problem is not None:
        return problem
    if ctx.model.reasoning and body.get("max_tokens") is not None:
        return envelope("Unsupported parameter: 'max_tokens' is not supported with this model. "
                          "Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    return None


class _Options:
    """The request's options that shape every choice, read once per line."""

    __slots__ = ("effort", "format", "legacy", "limit", "logprobs", "n", "parallel", "stop", "tool_choice", "tools",
                 "top")

    def __init__(self, body: dict[str, Any]) -> None:
        get = body.get
        limit = positive_int(get("max_completion_tokens"))
        self.limit = positive_int(get("max_tokens")) if limit is None else limit
        n = get("n")
        self.n = 1 if n is None else max(positive_int(n) or 1, 1)
        self.tools: list[tools.Tool] = []  # none on offer: the other tool options are then unused
        self.tool_choice: Any = None
        self.parallel = self.legacy = False
        if "tools" in body or "functions" in body:  # most lines have neither
            self._read_tools(body)
        self.logprobs = get("logprobs") is True
        self.top = (positive_int(get("top_logprobs")) or 0) if self.logprobs else 0
        self.effort = get("reasoning_effort")
        self.stop = get("stop")
        self.format = get("response_format")

    def _read_tools(self, body: dict[str, Any]) -> None:
        """The tools on offer, `tool_choice` and `parallel_tool_calls`; or their deprecated forms, `functions`
        and `function_call`, when there are functions and no tools."""
        self.legacy = not body.get("tools") and bool(body.get("functions"))
        if self.legacy:
            self.tools = tools.from_chat_functions(body.get("functions"))
            choice = body.get("function_call")
            self.tool_choice = {"name": choice["name"]} if isinstance(choice, dict) else choice
        else:
            self.tools = tools.from_chat(body["tools"]) if body.get("tools") else []
            self.tool_choice = body.get("tool_choice")
            self.parallel = body.get("parallel_tool_calls") is not False


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    """The request's options, then each choice (its budget; tool calls or content; logprobs), then the
    completion object around them with its usage."""
    problem = check(body, ctx)
    if problem is not None:
        return Generated(problem, Usage(), 400)
    options = _Options(body)
    choices = []
    visible = reasoning = 0
    for index in range(options.n):
        choice, spent, thought = _choice(ctx, options, index, visible)
        choices.append(choice)
        visible += spent
        reasoning += thought
    return _generated(body, ctx, options, choices, visible, reasoning)


def _choice(ctx: LineContext, options: _Options, index: int, written: int) -> tuple[dict[str, Any], int, int]:
    """One choice: a message with tool calls or content, its logprobs and finish reason. `written`: the visible
    tokens of the line's choices before it. Returns the choice, its visible tokens and its reasoning tokens."""
    reasoning, budget, room = _budget(ctx, options, written)
    calls = tools.choose(ctx.rng, options.tools, options.tool_choice, options.parallel) if options.tools else None
    if calls:
        content = None
        message, spent, finish = _tool_message(ctx, options.legacy, calls, budget)
    else:
        content, spent, finish = _content(ctx, options, budget, room)
        message = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    return {
        "index": index,
        "message": message,
        "logprobs": _logprobs(ctx, content, options.top) if options.logprobs else None,
        "finish_reason": finish,
    }, spent, reasoning


def _budget(ctx: LineContext, options: _Options, written: int) -> tuple[int, int, int]:
    """A choice's reasoning tokens, and its visible budget: what the token limit leaves after reasoning (which is
    spent first), at most the room the line still has (LINE_OUTPUT_TOKENS less `written`); and that room."""
    reasoning = reasoning_tokens(ctx.rng, ctx.model, options.effort) if ctx.model.reasoning else 0
    room = LINE_OUTPUT_TOKENS - written
    budget = options.limit
    if budget is None:
        return reasoning, room, room
    if reasoning > budget:
        reasoning = budget
    budget -= reasoning
    return reasoning, budget if budget < room else room, room


def _tool_message(ctx: LineContext, legacy: bool, calls: list[tools.Tool],
                  budget: int) -> tuple[dict[str, Any], int, str]:
    """A message calling the chosen tools, in `tool_calls` (or, for the deprecated `functions`, one
    `function_call`); with its tokens and finish reason: `length` when a call was cut to the budget, else the
    field's own name."""
    if legacy:
        made, spent, cut = tools.make_calls(ctx.rng, calls, budget, _function_call)
        field, calling = "function_call", made[0]
    else:
        made, spent, cut = tools.make_calls(ctx.rng, calls, budget, partial(_tool_call, ctx))
        field, calling = "tool_calls", made
    message = {"role": "assistant", "content": None, field: calling, "refusal": None, "annotations": []}
    return message, spent, "length" if cut else field


def _function_call(tool: tools.Tool, args: str, cut: bool) -> dict[str, Any]:
    return {"name": tool.name, "arguments": args}


def _tool_call(ctx: LineContext, tool: tools.Tool, args: str, cut: bool) -> dict[str, Any]:
    if tool.kind == "custom":
        return {"id": "call_" + ctx.base62(24), "type": "custom", "custom": {"name": tool.name, "input": args}}
    return {"id": "call_" + ctx.base62(24), "type": "function", "function": {"name": tool.name, "arguments": args}}


def _content(ctx: LineContext, options: _Options, budget: int, room: int) -> tuple[str, int, str]:
    """The answer's text, cut at the first stop sequence and to the budget; with its tokens and finish reason.
    A line with no room left answers "" (cut: `length`)."""
    content = answer(ctx, options.format) if room > 0 else ""
    if options.stop is not None:
        content = cut_at_stop(content, options.stop)
    spent = estimate_tokens(content)
    if spent > budget or room <= 0:
        content = content[:budget * 4]
        return content, estimate_tokens(content), "length"
    return content, spent, "stop"


def _logprobs(ctx: LineContext, content: str | None, top: int) -> dict[str, Any]:
    """A choice's `logprobs`: its content's tokens (none for tool calls)."""
    return {"content": logprobs.chat(ctx.rng, content, top) if content is not None else None, "refusal": None}


def _generated(body: dict[str, Any], ctx: LineContext, options: _Options, choices: list[dict[str, Any]],
               visible: int, reasoning: int) -> Generated:
    """The chat.completion of these choices, and its usage. For the usual single plain answer (text, no
    logprobs) its text too (`json_text`), filled into a template, which is several times faster than `dumps`."""
    prompt = prompt_tokens(body)
    output = visible + reasoning
    tier = body.get("service_tier")
    tier = tier if tier in SERVICE_TIERS else "default"
    completion_id, model, fp = "chatcmpl-" + ctx.base62(29), ctx.model.snapshot, fingerprint(ctx.model)
    completion = _completion(completion_id, ctx.created, model, choices, prompt, output, prompt + output,
                             reasoning, tier, fp)
    json_text = None  # written by `dumps`
    if options.n == 1 and not options.logprobs:
        choice = choices[0]
        content = choice["message"]["content"]
        if content is not None:  # not tool calls
            json_text = _plain_template(model, tier, fp) % (
                completion_id, ctx.created, json_string(content), choice["finish_reason"], prompt, output,
                prompt + output, reasoning)
    usage = Usage(prompt, 0, output, reasoning)  # input, cached, output, reasoning: positional is twice as fast
    return Generated(completion, usage, 200, json_text)


def _completion(completion_id: str, created: Any, model: str, choices: list[dict[str, Any]], prompt: Any,
                output: Any, total: Any, reasoning: Any, tier: str, fp: str) -> dict[str, Any]:
    """The chat.completion object. `total` is given, not summed here, so the template can put a marker there."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": total,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": tier,
        "system_fingerprint": fp,
    }


@lru_cache(maxsize=64)
def _plain_template(model: str, tier: str, fp: str) -> str:
    """`dumps` of a chat.completion with one plain text answer, with `%s` where a line's own values go, in
    this order: id, created, content (as JSON), finish_reason, then the prompt, completion, total and
    reasoning tokens. Made by `dumps` itself from markers, so it has the body's exact shape; filling it in
    is several times faster than encoding the body."""
    mark = [f"\x00{i}\x00" for i in range(8)]
    message = {"role": "assistant", "content": mark[2], "refusal": None, "annotations": []}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": mark[3]}
    text = dumps(_completion(mark[0], mark[1], model, [choice], *mark[4:7], mark[7], tier, fp)).replace("%", "%%")
    for i, m in enumerate(mark):
        text = text.replace(dumps(m), '"%s"' if i in (0, 3) else "%s")  # the id and finish_reason need no escaping
    return text
