"""What every generator shares: the per-line context, usage, token estimates and fake text."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

from faker.providers.lorem.en_US import Provider as _Lorem

from mockbatch import catalog, ids

# Faker's English lorem words; sampled with the line's own seeded generator (fast and reproducible).
WORDS: tuple[str, ...] = tuple(_Lorem.word_list)


@dataclass(frozen=True)
class Usage:
    input: int = 0
    cached: int = 0
    output: int = 0
    reasoning: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input + other.input, self.cached + other.cached, self.output + other.output,
                     self.reasoning + other.reasoning)

    def to_batch_usage(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.input + self.output,
        }


@dataclass(frozen=True)
class Generated:
    body: dict[str, Any]
    usage: Usage
    status_code: int = 200


class LineContext:
    """Everything a generator may use besides the body: a seeded RNG, the model and the time."""

    def __init__(self, seed: int, custom_id: str, body: dict[str, Any], created: int, model: catalog.Model) -> None:
        key = ids.digest(seed, custom_id, canonical(body), size=16)
        self.rng = random.Random(key)
        self.created = created
        self.model = model

    def hex(self, n: int) -> str:
        return "%0*x" % (n, self.rng.getrandbits(4 * n))

    def base62(self, n: int) -> str:
        return ids.base62(self.rng.getrandbits(6 * n).to_bytes(math.ceil(6 * n / 8) + 1, "big"), n)


def canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def estimate_tokens(text: str) -> int:
    """The documented estimate: one token per four characters, rounded up, at least one for non-empty text."""
    return (len(text) + 3) // 4


def content_text(content: Any) -> str:
    """The text in a message `content`: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def sentence(rng: random.Random, words: int) -> str:
    picked = rng.choices(WORDS, k=max(1, words))
    return " ".join(picked).capitalize() + "."


def paragraph(rng: random.Random, words: int) -> str:
    out: list[str] = []
    left = max(1, words)
    while left > 0:
        n = min(left, rng.randint(6, 14))
        out.append(sentence(rng, n))
        left -= n
    return " ".join(out)


def truncate_to_tokens(text: str, tokens: int) -> str:
    return text[: max(0, tokens) * 4]
