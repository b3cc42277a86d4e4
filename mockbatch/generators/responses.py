"""/v1/responses: a `response` object, field for field as the real Batch API writes it.

Follows `input` (a string or a list of items), `instructions`, `prompt` (a stored prompt's variables
appear in the answer), `text.format` (`json_object`, or `json_schema`: an instance of the schema),
`tools`/`tool_choice`/`parallel_tool_calls`/`max_tool_calls` (`function_call` and `custom_tool_call`
items), `reasoning` (reasoning models add a `reasoning` item, with a summary when one is asked for,
and report `reasoning_tokens`), `max_output_tokens` (reasoning spends it first; running out gives
`status: "incomplete"` with `incomplete_details.reason: "max_output_tokens"`), `include` with
`message.output_text.logprobs` and `top_logprobs`; the request's settings are echoed back. A
`max_output_tokens` below 16, or `reasoning` for a model without it, gets the real 400 error.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from mockbatch import catalog
from mockbatch.errors import envelope
from mockbatch.generators import logprobs, schema, tools
from mockbatch.generators.base import (
    LINE_OUTPUT_TOKENS,
    SENTENCES,
    Generated,
    ItemIds,
    LineContext,
    Usage,
    content_tokens,
        estimate_tokens,
    json_tokens,
    out_of_range,
    part_tokens,
    positive_int,
    reasoning_tokens,
    text,
    too_long,
)
from mockbatch.generators.chat import SERVICE_TIERS, json_object

MIN_OUTPUT_TOKENS = 16
PROMPT_TEMPLATE_TOKENS = 16  # a stored prompt's own text is unknown here; it is counted as this many tokens
LOGPROBS = "message.output_text.logprobs"


def item_tokens(item: Any) -> int:
    """An input item: its text plus 4 tokens of framing."""
    if isinstance(item, str):
        return 4 + estimate_tokens(item)
    if not isinstance(item, dict):
        return 0
    kind = item.get("type", "message")
    if kind == "message" or "role" in item:
        return 4 + content_tokens(item.get("content"))
    if kind in ("function_call", "custom_tool_call"):
        return 4 + estimate_tokens(str(item.get("name", ""))) + estimate_tokens(
            str(item.get("arguments", item.get("input", ""))))
    if kind in ("function_call_output", "custom_tool_call_output"):
        return 4 + content_tokens(item.get("output"))
    return 4


def input_tokens(body: dict[str, Any]) -> int:
    value = body.get("input")
    total = 3 + sum(item_tokens(i) for i in (value if isinstance(value, list) else [value] if value else []))
    instructions = body.get("instructions")
    if isinstance(instructions, list):
        total += sum(item_tokens(i) for i in instructions)
    elif isinstance(instructions, str):
        total += item_tokens(instructions)
    prompt = body.get("prompt")
    if isinstance(prompt, dict):
        variables = prompt.get("variables")
        total += PROMPT_TEMPLATE_TOKENS + sum(
            part_tokens(v) for v in (variables.values() if isinstance(variables, dict) else []))
    total += json_tokens(body.get("tools"))
    fmt = _format(body)
    if fmt.get("type") == "json_schema":
        total += json_tokens(fmt.get("schema"))
    return total


def _format(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("text")
    fmt = config.get("format") if isinstance(config, dict) else None
    return fmt if isinstance(fmt, dict) else {"type": "text"}


def _echo_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt.get("type") != "json_schema":
        return fmt
    return {"type": "json_schema", "description": fmt.get("description"), "name": fmt.get("name"),
            "schema": fmt.get("schema"), "strict": fmt.get("strict", False)}


def _echo_tool(tool: Any) -> Any:
    if isinstance(tool, dict) and tool.get("type") == "function":
        return {"type": "function", "description": tool.get("description"), "name": tool.get("name"),
                "parameters": tool.get("parameters"), "strict": tool.get("strict", True)}
    return tool


def variable_texts(prompt: Any) -> list[str]:
    """The text of a stored prompt's variables (strings and `input_text` parts)."""
    variables = prompt.get("variables") if isinstance(prompt, dict) else None
    out = []
    for value in variables.values() if isinstance(variables, dict) else []:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict) and isinstance(value.get("text"), str):
            out.append(value["text"])
    return [v for v in out if v]


def answer(rng: Any, body: dict[str, Any]) -> str:
    fmt = _format(body)
    if fmt.get("type") == "json_schema":
        target = fmt.get("schema", {"type": "object"})
        return json.dumps(schema.instance(target, rng), separators=(",", ":"), ensure_ascii=False)
    if fmt.get("type") == "json_object":
        return json.dumps(json_object(rng), separators=(",", ":"), ensure_ascii=False)
    values = variable_texts(body.get("prompt"))
    if not values:
        return text(rng)
    sentences = rng.choices(SENTENCES, k=rng.randint(2, 5))
    for value in values:
        sentences.insert(rng.randint(0, len(sentences)), value)
    return " ".join(sentences)


# Beyond the request schema (checked before, mockbatch/linecheck.py): the token limit's top (its bottom, 16, is the
# schema's), the number of tools (chosen, as chat's) and a tool name's length (64, as the real API).
LIMITS = {"max_output_tokens": (MIN_OUTPUT_TOKENS, 2**31 - 1)}


def check(body: dict[str, Any], ctx: LineContext) -> dict[str, Any] | None:
    problem = out_of_range(body, LIMITS) or too_long("tools", body.get("tools"), 128) or tools.long_name(
        body.get("tools"), "tools", False)
    if problem is not None:
        return problem
    reasoning = body.get("reasoning")
    if not ctx.model.reasoning and isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        return envelope("Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                          "reasoning.effort", "unsupported_parameter")
    return None


class _Options:
    """The request's options that shape the answer, read once per line."""

    __slots__ = ("effort", "limit", "logprobs", "max_calls", "parallel", "summary", "tool_choice", "tools", "top")

    def __init__(self, body: dict[str, Any], model: catalog.Model) -> None:
        self.limit = positive_int(body.get("max_output_tokens"))
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        self.effort = reasoning.get("effort") or ("medium" if model.reasoning else None)
        self.summary = reasoning.get("summary") or reasoning.get("generate_summary")
        self.tools = tools.from_responses(body.get("tools"))
        self.tool_choice = body.get("tool_choice") or "auto"
        self.parallel = body.get("parallel_tool_calls") is not False
        self.max_calls = positive_int(body.get("max_tool_calls"))
        include = body.get("include") if isinstance(body.get("include"), list) else []
        self.logprobs = LOGPROBS in include
        self.top = positive_int(body.get("top_logprobs")) or 0


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    """The request's options, the budget, the output items (reasoning; tool calls or a message), then the
    response object around them with its usage. Ids and text share one rng: the steps draw in this order."""
    problem = check(body, ctx)
    if problem is not None:
        return Generated(problem, Usage(), 400)
    options = _Options(body, ctx.model)
    new_id = ItemIds(ctx)
    response_id = new_id("resp")
    reasoning, budget = _budget(ctx, options)
    output: list[dict[str, Any]] = []
    if ctx.model.reasoning and options.effort != "none":
        output.append(_reasoning_item(ctx.rng, new_id, options.summary))
    items, visible, incomplete = _answer_items(ctx, new_id, body, options, budget)
    output += items
    prompt = input_tokens(body)
    usage = Usage(prompt, 0, visible + reasoning, reasoning)  # input, cached, output, reasoning
    return Generated(_response(body, ctx, options, response_id, output, incomplete, usage), usage)


def _budget(ctx: LineContext, options: _Options) -> tuple[int, int]:
    """The reasoning tokens, and the visible budget: what `max_output_tokens` leaves after reasoning (which is
    spent first), at most LINE_OUTPUT_TOKENS (which bounds the output of stored-prompt variables and schemas)."""
    reasoning = reasoning_tokens(ctx.rng, ctx.model, options.effort)
    budget = options.limit
    if budget is not None:
        reasoning = min(reasoning, budget)
        budget -= reasoning
    if budget is None or budget > LINE_OUTPUT_TOKENS:
        budget = LINE_OUTPUT_TOKENS
    return reasoning, budget


def _reasoning_item(rng: Any, new_id: ItemIds, summary: Any) -> dict[str, Any]:
    """A reasoning model's `reasoning` item, with a summary when one is asked for."""
    item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": []}
    if summary in ("auto", "concise", "detailed"):
        item["summary"] = [{"type": "summary_text", "text": text(rng, 1, 3)}]
    return item


def _answer_items(ctx: LineContext, new_id: ItemIds, body: dict[str, Any], options: _Options,
                  budget: int) -> tuple[list[dict[str, Any]], int, bool]:
    """The answer's output items: the chosen tool calls (up to `max_tool_calls`), else one message; with their
    visible tokens and whether the budget cut them short. A budget reasoning spent whole leaves no item
    (incomplete)."""
    calls = tools.choose(ctx.rng, options.tools, options.tool_choice, options.parallel)
    if options.max_calls is not None:
        calls = calls[:options.max_calls]
    if budget == 0:
        return [], 0, True
    if calls:
        return tools.make_calls(ctx.rng, calls, budget, partial(_call_item, ctx, new_id))
    return _message_item(ctx, new_id, body, options, budget)


def _call_item(ctx: LineContext, new_id: ItemIds, tool: tools.Tool, args: str, cut: bool) -> dict[str, Any]:
    """A `function_call` item (`incomplete` when its arguments were cut to the budget) or a `custom_tool_call` item,
    which has no status (neither the description nor the SDK gives it one)."""
    status = "incomplete" if cut else "completed"
    item_id = new_id("fc" if tool.kind == "function" else "ctc")
    call_id = "call_" + ctx.base62(24)
    if tool.kind == "custom":
        return {"id": item_id, "type": "custom_tool_call", "call_id": call_id, "input": args, "name": tool.name}
    return {"id": item_id, "type": "function_call", "status": status, "arguments": args, "call_id": call_id,
            "name": tool.name}


def _message_item(ctx: LineContext, new_id: ItemIds, body: dict[str, Any], options: _Options,
                  budget: int) -> tuple[list[dict[str, Any]], int, bool]:
    """The answer as one `message` item, cut to the budget (`incomplete`), with its logprobs when included."""
    answer_text = answer(ctx.rng, body)
    incomplete = estimate_tokens(answer_text) > budget
    if incomplete:
        answer_text = answer_text[:budget * 4]
    item_id = new_id("msg")  # drawn after the answer, before its logprobs
    item = {
        "id": item_id,
        "type": "message",
        "status": "incomplete" if incomplete else "completed",
        "content": [{"type": "output_text", "annotations": [],
                     "logprobs": logprobs.chat(ctx.rng, answer_text, options.top) if options.logprobs else [],
                     "text": answer_text}],
        "role": "assistant",
    }
    return [item], estimate_tokens(answer_text), incomplete


def _response(body: dict[str, Any], ctx: LineContext, options: _Options, response_id: str,
              output: list[dict[str, Any]], incomplete: bool, usage: Usage) -> dict[str, Any]:
    """The response object: its status and output, the request's settings echoed back, and its usage."""
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": ctx.created,
        "status": "incomplete" if incomplete else "completed",
        "background": body.get("background") is True,
        "billing": {"payer": "developer"},
        "completed_at": None if incomplete else ctx.created,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": options.limit,
        "max_tool_calls": options.max_calls,
        "model": ctx.model.snapshot,
        "output": output,
        "parallel_tool_calls": options.parallel,
        "previous_response_id": body.get("previous_response_id"),
    }
    prompt = body.get("prompt")
    if isinstance(prompt, dict):
        response["prompt"] = {"id": prompt.get("id"), "variables": prompt.get("variables"),
                              "version": prompt.get("version")}
    response.update(_settings(body, options))
    response["usage"] = _usage(usage)
    response["user"] = body.get("user")
    response["metadata"] = body.get("metadata") or {}
    return response


def _settings(body: dict[str, Any], options: _Options) -> dict[str, Any]:
    """The request's settings as the response echoes them, with their defaults."""
    config = body.get("text") if isinstance(body.get("text"), dict) else {}
    tier = body.get("service_tier")
    return {
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "reasoning": {"effort": options.effort, "summary": options.summary},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": tier if tier in SERVICE_TIERS else "default",
        "store": body.get("store") is not False,
        "temperature": _float(body.get("temperature"), 1.0),
        "text": {"format": _echo_format(_format(body)), "verbosity": config.get("verbosity") or "medium"},
        "tool_choice": options.tool_choice,
        "tools": [_echo_tool(t) for t in body["tools"]] if isinstance(body.get("tools"), list) else [],
        "top_logprobs": options.top,
        "top_p": _float(body.get("top_p"), 1.0),
        "truncation": body.get("truncation") or "disabled",
    }


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.input + usage.output,
    }


def _float(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
