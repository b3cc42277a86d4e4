"""/v1/chat/completions: a `chat.completion` object.

Follows `n`, `max_completion_tokens`/`max_tokens` (text cut, `finish_reason: "length"`; for reasoning
models the limit covers reasoning first, so a small limit leaves an empty answer, as it really does),
`stop`, `response_format` (`json_object`: a JSON object; `json_schema`: an instance of the schema),
`tools`/`tool_choice`/`parallel_tool_calls` (and the deprecated `functions`/`function_call`),
`logprobs`/`top_logprobs`, `reasoning_effort` and `service_tier`. Reasoning models refuse
`max_tokens`, and `n`, `top_logprobs` or a token limit out of range is refused, with the real 400 errors.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from mockbatch.generators import logprobs, schema, tools
from mockbatch.generators.base import (
    LINE_OUTPUT_TOKENS,
    WORDS,
    Generated,
    LineContext,
    Usage,
    content_tokens,
    dumps,
    error_body,
    estimate_tokens,
    fingerprint,
    json_string,
    json_tokens,
    out_of_range,
    over_max_length,
    positive_int,
    reasoning_tokens,
    text,
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


LIMITS = {"n": (1, 128), "top_logprobs": (0, 20), "max_tokens": (1, 2**31 - 1),
          "max_completion_tokens": (1, 2**31 - 1)}
# Maximum lengths: `stop`, `functions` and `safety_identifier` from the openapi; `tools` chosen as `functions`.
LENGTHS = {"stop": 4, "tools": 128, "functions": 128, "safety_identifier": 64}


def check(body: dict[str, Any], ctx: LineContext) -> dict[str, Any] | None:
    problem = out_of_range(body, LIMITS)
    if problem is None and not LENGTHS.keys().isdisjoint(body):  # most lines have none of these: one set test
        problem = (over_max_length(body, LENGTHS) or tools.long_name(body.get("tools"), "tools", True)
                   or tools.long_name(body.get("functions"), "functions", False))
    if problem is not None:
        return problem
    if ctx.model.reasoning and body.get("max_tokens") is not None:
        return error_body("Unsupported parameter: 'max_tokens' is not supported with this model. "
                          "Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    return None


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    problem = check(body, ctx)
    if problem is not None:
        return Generated(problem, Usage(), 400)
    limit = positive_int(body.get("max_completion_tokens"))
    if limit is None:
        limit = positive_int(body.get("max_tokens"))
    n = max(positive_int(body.get("n")) or 1, 1)
    legacy = not body.get("tools") and bool(body.get("functions"))
    if legacy:
        available = tools.from_chat_functions(body.get("functions"))
        legacy_choice = body.get("function_call")
        choice: Any = {"name": legacy_choice["name"]} if isinstance(legacy_choice, dict) else legacy_choice
        parallel = False
    else:
        available = tools.from_chat(body["tools"]) if body.get("tools") else []
        choice = body.get("tool_choice")
        parallel = body.get("parallel_tool_calls") is not False
    want_logprobs = body.get("logprobs") is True
    top = (positive_int(body.get("top_logprobs")) or 0) if want_logprobs else 0
    effort = body.get("reasoning_effort")
    stop = body.get("stop")
    choices = []
    visible_total = reasoning_total = 0
    for index in range(n):
        reasoning = reasoning_tokens(ctx.rng, ctx.model, effort) if ctx.model.reasoning else 0
        budget = limit
        if budget is not None:
            reasoning = min(reasoning, budget)
            budget -= reasoning
        room = LINE_OUTPUT_TOKENS - visible_total  # what the line may still write (bounds its output)
        if budget is None or budget > room:
            budget = room
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        calls = tools.choose(ctx.rng, available, choice, parallel) if available else []
        content: str | None = None
        if calls:
            finish = "function_call" if legacy else "tool_calls"
            made = []
            for tool in calls:
                args = tools.arguments(ctx.rng, tool)
                cost = estimate_tokens(tool.name) + estimate_tokens(args)
                if cost > budget:
                    args, finish = args[:max(budget - estimate_tokens(tool.name), 0) * 4], "length"
                    cost = estimate_tokens(tool.name) + estimate_tokens(args)
                visible_total += cost
                budget -= cost
                made.append((tool, args))
                if finish == "length":
                    break
            if legacy:
                tool, args = made[0]
                message["function_call"] = {"name": tool.name, "arguments": args}
            else:
                message["tool_calls"] = [
                    {"id": "call_" + ctx.base62(24), "type": "custom", "custom": {"name": t.name, "input": a}}
                    if t.kind == "custom" else
                    {"id": "call_" + ctx.base62(24), "type": "function", "function": {"name": t.name, "arguments": a}}
                    for t, a in made
                ]
        else:
            content = answer(ctx, body.get("response_format")) if room > 0 else ""
            if stop is not None:
                content = cut_at_stop(content, stop)
            cost = estimate_tokens(content)
            if cost > budget or room <= 0:
                content, finish = content[:budget * 4], "length"
                cost = estimate_tokens(content)
            visible_total += cost
            message["content"] = content
        message["refusal"] = None
        message["annotations"] = []
        choices.append({
            "index": index,
            "message": message,
            "logprobs": {"content": logprobs.chat(ctx.rng, content, top) if content is not None else None,
                         "refusal": None} if want_logprobs else None,
            "finish_reason": finish,
        })
        reasoning_total += reasoning
    prompt = prompt_tokens(body)
    output = visible_total + reasoning_total
    tier = body.get("service_tier")
    tier = tier if tier in SERVICE_TIERS else "default"
    completion_id, model, fp = "chatcmpl-" + ctx.base62(29), ctx.model.snapshot, fingerprint(ctx.model)
    completion = _completion(completion_id, ctx.created, model, choices, prompt, output, prompt + output,
                             reasoning_total, tier, fp)
    json_text = None  # written by `dumps`, unless it is the usual single plain answer (text: no tool calls)
    if n == 1 and not want_logprobs and content is not None:
        json_text = _plain_template(model, tier, fp) % (
            completion_id, ctx.created, json_string(content), choices[0]["finish_reason"], prompt, output,
            prompt + output, reasoning_total)
    return Generated(completion, Usage(input=prompt, output=output, reasoning=reasoning_total), 200, json_text)


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
