"""POST /v1/messages, as a Message Batch runs it (Anthropic's Messages API).

A line's body is the engine's wrapper (see catalog.BATCH_MODEL): `{"model": BATCH_MODEL, "params": <the request's
params>, "served": {"model": <snapshot>, "thinking": bool, "max_output": int} | null}`, `served` resolved from the
catalog when the batch was created (null: no such model). Anthropic checks `params` only when a request runs, so a
bad one is answered here with its 4xx and Anthropic's error body, `{"type": "error", "error": {"type", "message"}}`,
which becomes the request's `errored` result; the batch itself never fails for it.

Token counts are estimates (generators/base.py): text at four characters a token, 3 tokens of framing a message,
an image or document block IMAGE_TOKENS, tools the tokens of their JSON. With `cache_control` on a block, the prompt
up to the last such block counts as written to the cache (`cache_creation_input_tokens`) when it reaches
CACHE_MIN_TOKENS, as Anthropic caches no shorter prefix; nothing is ever read from the cache (each request of a
batch is answered on its own).
"""

from __future__ import annotations

import base64
from typing import Any

from mockbatch.errors import anthropic_envelope
from mockbatch.generators import schema
from mockbatch.generators.base import Generated, LineContext, Usage, estimate_tokens, json_tokens, text
from mockbatch.generators.tools import AUTO_CALL_RATE, PARALLEL_RATE  # OpenAI's rates, on Claude's tools too

IMAGE_TOKENS = 1_600  # an image or document block (Anthropic: about width * height / 750 for a 1.2 MP image)
FRAMING = 3  # tokens around each message
CACHE_MIN_TOKENS = 1_024  # the shortest prefix Anthropic caches (Sonnet and Opus models)
MIN_THINKING_BUDGET = 1_024
STOP_SEQUENCE_RATE = 0.25  # how often a text answer ends on one of the `stop_sequences`
TOOL_CHOICES = ("auto", "any", "tool", "none")


class Refused(Exception):
    def __init__(self, message: str, kind: str = "invalid_request_error", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.kind, self.status = message, kind, status


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    params = body.get("params")
    try:
        if not isinstance(params, dict):
            raise Refused("params: Input should be a valid dictionary")
        served = body.get("served")
        tools, choice, budget = check(params, served)
        assert isinstance(served, dict)
        answer = message(params, served, ctx, tools, choice, budget)
        answer["usage"], counted = usage(params, answer["content"])
        return Generated(answer, counted)
    except Refused as exc:
        return Generated(anthropic_envelope(exc.status, exc.message, exc.kind), Usage(), exc.status)


# -- the checks Anthropic makes when a request runs -----------------------------------------------------------
def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check(params: dict[str, Any], served: Any) -> tuple[list[dict[str, Any]], str, int]:
    """Refused for the first problem of `params`: its shape first (pydantic-style `field: problem` messages),
    then the model, then what depends on the model. What the answer follows: the custom tools, the tool choice and
    the thinking budget (0: none)."""
    for name in ("model", "max_tokens", "messages"):
        if params.get(name) is None:
            raise Refused(f"{name}: Field required")
    if not isinstance(params["model"], str):
        raise Refused("model: Input should be a valid string")
    if not _int(params["max_tokens"]):
        raise Refused("max_tokens: Input should be a valid integer")
    if params["max_tokens"] < 1:
        raise Refused("max_tokens: Input should be greater than or equal to 1")
    messages = params["messages"]
    if not isinstance(messages, list):
        raise Refused("messages: Input should be a valid list")
    if not messages:
        raise Refused("messages: at least one message is required")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise Refused(f"messages.{i}: Input should be a valid dictionary")
        if m.get("role") not in ("user", "assistant"):
            raise Refused(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if m.get("content") is None:
            raise Refused(f"messages.{i}.content: Field required")
        if not isinstance(m["content"], str | list):
            raise Refused(f"messages.{i}.content: Input should be a valid list")
    if params.get("stream") is True:
        raise Refused("stream: Streaming is not supported in the Message Batches API.")
    if params.get("system") is not None and not isinstance(params["system"], str | list):
        raise Refused("system: Input should be a valid list")
    temperature = params.get("temperature")
    if temperature is not None:
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            raise Refused("temperature: Input should be a valid number")
        if not 0 <= temperature <= 1:
            raise Refused(f"temperature: Input should be {'less' if temperature > 1 else 'greater'} than or equal "
                          f"to {1 if temperature > 1 else 0}")
    stops = params.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise Refused("stop_sequences: Input should be a valid list of strings")
    tools = _check_tools(params)
    choice = _check_tool_choice(params, tools)
    if not isinstance(served, dict):
        raise Refused(f"model: {params['model']}", "not_found_error", 404)
    limit = served.get("max_output")
    if limit is not None and params["max_tokens"] > limit:
        raise Refused(f"max_tokens: {params['max_tokens']} > {limit}, which is the maximum allowed number of output "
                      f"tokens for {served['model']}")
    budget = _check_thinking(params, served)
    if budget and choice in ("any", "tool"):
        raise Refused("Thinking may not be enabled when tool_choice forces tool use.")
    return tools, choice, budget


def _check_tools(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The custom tools (those with an `input_schema`: server tools are accepted and never called)."""
    tools = params.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise Refused("tools: Input should be a valid list")
    custom, names = [], set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise Refused(f"tools.{i}: Input should be a valid dictionary")
        if not isinstance(tool.get("name"), str):
            raise Refused(f"tools.{i}.name: Field required")
        if tool["name"] in names:
            raise Refused("tools: Tool names must be unique.")
        names.add(tool["name"])
        if tool.get("type") in (None, "custom"):
            if not isinstance(tool.get("input_schema"), dict):
                raise Refused(f"tools.{i}.custom.input_schema: Field required")
            custom.append(tool)
    return custom


def _check_tool_choice(params: dict[str, Any], tools: list[dict[str, Any]]) -> str:
    choice = params.get("tool_choice")
    if choice is None:
        return "auto" if tools else "none"
    if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
        raise Refused("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', "
                      "'none'")
    kind = choice["type"]
    if kind in ("any", "tool") and not params.get("tools"):
        raise Refused("tool_choice may only be specified while providing tools.")
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise Refused("tool_choice.tool.name: Field required")
        if choice["name"] not in {t["name"] for t in tools}:
            raise Refused(f"Tool '{choice['name']}' not found in tools.")
    return str(kind)


def _check_thinking(params: dict[str, Any], served: dict[str, Any]) -> int:
    """The thinking budget (0: thinking off)."""
    thinking = params.get("thinking")
    if thinking is None:
        return 0
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
        raise Refused("thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'")
    if thinking["type"] == "disabled":
        return 0
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise Refused("thinking.enabled.budget_tokens: Field required")
    if not _int(budget):
        raise Refused("thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < MIN_THINKING_BUDGET:
        raise Refused(f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}")
    if budget >= params["max_tokens"]:
        raise Refused("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
                      "at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                      "#max-tokens-and-context-window-size")
    if not served.get("thinking"):
        raise Refused(f"thinking: '{served['model']}' does not support extended thinking.")
    return int(budget)


# -- the answer -----------------------------------------------------------------------------------------------
def message(params: dict[str, Any], served: dict[str, Any], ctx: LineContext, tools: list[dict[str, Any]],
            choice: str, budget: int) -> dict[str, Any]:
    """The answer, following what `check` found: the custom tools, the tool choice and the thinking budget."""
    rng = ctx.rng
    limit = params["max_tokens"]
    content: list[dict[str, Any]] = []
    spent = 0
    if budget:
        thought = text(rng, 1, 4)
        content.append({"type": "thinking", "thinking": thought,
                        "signature": base64.b64encode(ctx.randbytes(96)).decode()})
        spent += estimate_tokens(thought)
    chosen: list[dict[str, Any]] = []
    if choice == "tool":
        chosen = [t for t in tools if t["name"] == params["tool_choice"]["name"]]
    elif choice == "any" or (choice == "auto" and tools and rng.random() < AUTO_CALL_RATE):
        parallel = not (params.get("tool_choice") or {}).get("disable_parallel_tool_use")
        chosen = rng.sample(tools, 2 if parallel and len(tools) > 1 and rng.random() < PARALLEL_RATE else 1)
    # With `any` or `tool` the answer opens with the call (Anthropic prefills it); with `auto` a sentence first.
    said = "" if choice in ("any", "tool") else text(rng, 1, 1) if chosen else text(rng, 1, 4)
    calls = []
    for tool in chosen:
        drawn = schema.instance(tool["input_schema"], rng)
        calls.append({"type": "tool_use", "id": "toolu_01" + ctx.base62(22), "name": tool["name"],
                      "input": drawn if isinstance(drawn, dict) else {}})
    call_tokens = sum(estimate_tokens(c["name"]) + json_tokens(c["input"]) for c in calls)
    stop_reason, stop_sequence = ("tool_use" if calls else "end_turn"), None
    left = limit - spent
    if estimate_tokens(said) + call_tokens > left:  # max_tokens cuts the answer: no call survives a cut
        said, calls, stop_reason = said[:max(left, 0) * 4], [], "max_tokens"
    elif not calls and params.get("stop_sequences") and rng.random() < STOP_SEQUENCE_RATE:
        stop_reason, stop_sequence = "stop_sequence", rng.choice(params["stop_sequences"])
    if said:
        content.append({"type": "text", "text": said, "citations": None})
    content += calls
    return {"id": "msg_01" + ctx.base62(22), "type": "message", "role": "assistant", "model": served["model"],
            "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence}


def block_tokens(block: Any) -> int:
    """Tokens of one content block (or a plain string)."""
    if isinstance(block, str):
        return estimate_tokens(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind in ("image", "document"):
        return IMAGE_TOKENS
    if kind == "tool_use":
        return estimate_tokens(str(block.get("name", ""))) + json_tokens(block.get("input"))
    if kind == "tool_result":
        inner = block.get("content")
        return sum(block_tokens(b) for b in inner) if isinstance(inner, list) else block_tokens(inner or "")
    if kind == "thinking":
        return estimate_tokens(str(block.get("thinking", "")))
    value = block.get("text")
    return estimate_tokens(value) if isinstance(value, str) else 0


def prompt_pieces(params: dict[str, Any]) -> list[tuple[int, Any]]:
    """The prompt in Anthropic's cache order (tools, system, messages): (tokens, cache_control or None) a piece."""
    pieces: list[tuple[int, Any]] = []
    for tool in params.get("tools") or []:
        if isinstance(tool, dict):
            pieces.append((json_tokens({k: v for k, v in tool.items() if k != "cache_control"}),
                           tool.get("cache_control")))
    system = params.get("system")
    for block in [system] if isinstance(system, str) else system or []:
        pieces.append((block_tokens(block), block.get("cache_control") if isinstance(block, dict) else None))
    for m in params["messages"]:
        content = m["content"]
        blocks = [content] if isinstance(content, str) else content
        pieces.append((FRAMING, None))
        for block in blocks:
            pieces.append((block_tokens(block), block.get("cache_control") if isinstance(block, dict) else None))
    return pieces


def usage(params: dict[str, Any], content: list[dict[str, Any]]) -> tuple[dict[str, Any], Usage]:
    """The message's `usage` and the engine's Usage of it."""
    total = written = 0
    ttl = "5m"
    for tokens, cache in prompt_pieces(params):
        total += tokens
        if isinstance(cache, dict):
            written, ttl = total, "1h" if cache.get("ttl") == "1h" else "5m"
    if written < CACHE_MIN_TOKENS:
        written = 0
    output = sum(block_tokens(b) for b in content)
    wire = {"input_tokens": total - written, "cache_creation_input_tokens": written, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": written if ttl == "5m" else 0,
                               "ephemeral_1h_input_tokens": written if ttl == "1h" else 0},
            "output_tokens": output, "service_tier": "batch"}
    return wire, Usage(input=total, output=output)
