"""/v1/chat/completions: a `chat.completion` object."""

from __future__ import annotations

from typing import Any

from mockbatch.generators.base import (
    Generated,
    LineContext,
    Usage,
    content_text,
    estimate_tokens,
    paragraph,
    truncate_to_tokens,
)


def prompt_tokens(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    # Each message costs a few tokens of framing on top of its text, as with the real tokenizer.
    return 3 + sum(4 + estimate_tokens(content_text(m.get("content"))) for m in messages if isinstance(m, dict))


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    rng = ctx.rng
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    n = body.get("n") if isinstance(body.get("n"), int) and body.get("n", 0) > 0 else 1
    choices = []
    output = 0
    for index in range(n):
        text = paragraph(rng, rng.randint(8, 40))
        finish = "stop"
        if isinstance(limit, int) and limit >= 0 and estimate_tokens(text) > limit:
            text, finish = truncate_to_tokens(text, limit), "length"
        output += estimate_tokens(text)
        choices.append({
            "index": index,
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": finish,
        })
    reasoning = rng.randint(64, 512) if ctx.model.reasoning else 0
    usage = Usage(input=prompt_tokens(body.get("messages")), output=output + reasoning, reasoning=reasoning)
    return Generated({
        "id": "chatcmpl-" + ctx.base62(29),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model.snapshot,
        "choices": choices,
        "usage": {
            "prompt_tokens": usage.input,
            "completion_tokens": usage.output,
            "total_tokens": usage.input + usage.output,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_" + ctx.hex(10),
    }, usage)
