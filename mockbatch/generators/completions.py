"""/v1/completions: a legacy `text_completion` object.

`prompt` may be a string, a list of strings, a token array or a list of token arrays; each prompt gets
`n` choices, indexed prompt by prompt. `max_tokens` defaults to 16, as it does for real, so long
answers stop with `finish_reason: "length"`. Also follows `echo` (the prompt text is prepended),
`stop` and `logprobs` (tokens, their log probabilities, the top alternatives
and text offsets). `n`, `logprobs` or `max_tokens` out of range gets the real 400 error.
"""

from __future__ import annotations

from typing import Any

from mockbatch.errors import envelope
from mockbatch.generators import logprobs
from mockbatch.generators.base import (
    Generated,
    LineContext,
    Usage,
        estimate_tokens,
    out_of_range,
    positive_int,
    text,
    too_long,
)
from mockbatch.generators.chat import cut_at_stop

DEFAULT_MAX_TOKENS = 16
LIMITS = {"max_tokens": (0, 2**31 - 1)}  # its top; `n`, `logprobs`, `stop`: the request schema (linecheck.py)
# Chosen (the official description gives no maximum): prompts in one request, as the embeddings' 2,048 inputs,
# and choices (`n` for each prompt) in one request, so that a line's output is bounded.
MAX_PROMPTS = 2048
MAX_CHOICES = 2048


def check(body: dict[str, Any], ctx: LineContext, listed: list[Any], n: int, limit: int) -> dict[str, Any] | None:
    """The real 400s for parameters out of range, too many prompts or choices, a prompt over the context window."""
    problem = out_of_range(body, LIMITS)
    if problem is None and len(listed) > MAX_PROMPTS:
        problem = too_long("prompt", listed, MAX_PROMPTS)
    if problem is None and n * len(listed) > MAX_CHOICES:
        problem = envelope(f"Invalid 'n': {n} choices for each of {len(listed)} prompts make {n * len(listed)}; "
                             f"at most {MAX_CHOICES} choices are allowed in one request.", "n", "invalid_value")
    for prompt in listed if problem is None else []:
        tokens = prompt_tokens(prompt)
        if tokens + limit > ctx.model.context_window:  # the real words of the legacy completions model
            problem = envelope(
                f"This model's maximum context length is {ctx.model.context_window} tokens, however you requested "
                f"{tokens + limit} tokens ({tokens} in your prompt; {limit} for the completion). Please reduce your "
                "prompt; or completion length.", None, None)
            break
    return problem


def prompts(value: Any) -> list[Any]:
    """A string, a list of strings, a token array, or a list of token arrays -> the list of prompts."""
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    if isinstance(value, list):
        return value or [""]
    return [value]


def prompt_tokens(prompt: Any) -> int:
    return len(prompt) if isinstance(prompt, list) else estimate_tokens(prompt if isinstance(prompt, str) else "")


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    limit = positive_int(body.get("max_tokens"))
    limit = DEFAULT_MAX_TOKENS if limit is None else limit
    n = max(positive_int(body.get("n")) or 1, 1)
    listed = prompts(body.get("prompt"))
    problem = check(body, ctx, listed, n, limit)
    if problem is not None:
        return Generated(problem, Usage(), 400)
    rng = ctx.rng
    want = positive_int(body.get("logprobs"))
    echo = body.get("echo") is True
    choices = []
    prompt_total = completion_total = 0
    for prompt in listed:
        prompt_total += prompt_tokens(prompt)
        for _ in range(n):
            answer = " " + cut_at_stop(text(rng), body.get("stop"))
            finish = "stop"
            if estimate_tokens(answer) > limit:
                answer, finish = answer[:limit * 4], "length"
            completion_total += estimate_tokens(answer)
            head = prompt if echo and isinstance(prompt, str) else ""
            choices.append({
                "text": head + answer,
                "index": len(choices),
                "logprobs": logprobs.completion(rng, answer, want, len(head)) if want is not None else None,
                "finish_reason": finish,
            })
    return Generated({
        "id": "cmpl-" + ctx.base62(29),
        "object": "text_completion",
        "created": ctx.created,
        "model": ctx.model.snapshot,
        "choices": choices,
        "usage": {"prompt_tokens": prompt_total, "completion_tokens": completion_total,
                  "total_tokens": prompt_total + completion_total},
    }, Usage(input=prompt_total, output=completion_total))
