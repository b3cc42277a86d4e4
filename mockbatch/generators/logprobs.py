"""Token log probabilities for generated text, in the shapes of chat, Responses and legacy completions.

Text is split into the same four-character tokens the usage estimate counts, so the number of
logprob entries equals the reported output tokens of that text. Alternatives are other lorem word
pieces with lower log probabilities; the chosen token is always the most likely.
"""

from __future__ import annotations

import random
from typing import Any

from mockbatch.generators.base import WORDS


def tokens(text: str) -> list[str]:
    return [text[i:i + 4] for i in range(0, len(text), 4)]


def _draw(rng: random.Random, token: str, top: int) -> tuple[float, list[tuple[str, float]]]:
    logprob = -round(rng.expovariate(6.0), 6)
    alternatives = [(token, logprob)]
    seen = {token}
    floor = logprob
    while len(alternatives) < top:
        piece = rng.choice(WORDS)[:4]
        if piece in seen:
            piece = " " + piece[:3]
            if piece in seen:
                continue
        seen.add(piece)
        floor = round(floor - rng.uniform(0.5, 4.0), 6)
        alternatives.append((piece, floor))
    return logprob, alternatives


def chat(rng: random.Random, text: str, top: int) -> list[dict[str, Any]]:
    """`choices[].logprobs.content` (also the Responses `output_text.logprobs` shape)."""
    out = []
    for token in tokens(text):
        logprob, alternatives = _draw(rng, token, top)
        out.append({
            "token": token,
            "logprob": logprob,
            "bytes": list(token.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())}
                             for t, lp in (alternatives if top > 0 else [])],
        })
    return out


def completion(rng: random.Random, text: str, top: int, offset: int) -> dict[str, Any]:
    """`choices[].logprobs` of a legacy completion; `offset` is where `text` starts in the choice."""
    pieces = tokens(text)
    token_logprobs, top_logprobs, offsets = [], [], []
    position = offset
    for token in pieces:
        logprob, alternatives = _draw(rng, token, max(top, 1))
        token_logprobs.append(logprob)
        top_logprobs.append(dict(alternatives[:max(top, 1)]))
        offsets.append(position)
        position += len(token)
    return {"tokens": pieces, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs, "text_offset": offsets}
