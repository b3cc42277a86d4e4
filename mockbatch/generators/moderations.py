"""/v1/moderations: one result per input with all 13 categories, their scores and the input types
each category was applied to.

Scores are small seeded numbers, so ordinary input is not flagged. Input containing a trigger word
(TRIGGERS, case-insensitive; set MOCKBATCH_MODERATION_TRIGGER to a comma-separated list to change
it, default "flagme") is flagged: one seeded category, and its parent category if it has one, get
high scores. `input` may be a string, a list of strings (one result each) or a list of text and
image parts (one result for all of them).
"""

from __future__ import annotations

import os
from typing import Any

from mockbatch.errors import envelope
from mockbatch.generators.base import Generated, LineContext, Usage, too_long

TRIGGERS: tuple[str, ...] = tuple(
    w.strip().lower() for w in os.environ.get("MOCKBATCH_MODERATION_TRIGGER", "flagme").split(",") if w.strip())

CATEGORIES = (
    "harassment", "harassment/threatening", "sexual", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm/intent", "self-harm/instructions", "self-harm", "sexual/minors", "violence", "violence/graphic",
)
# Categories the omni model also scores images for; the rest are text-only.
IMAGE_CATEGORIES = frozenset(
    {"sexual", "self-harm", "self-harm/intent", "self-harm/instructions", "violence", "violence/graphic"})
PARENT = {
    "harassment/threatening": "harassment", "hate/threatening": "hate", "illicit/violent": "illicit",
    "self-harm/intent": "self-harm", "self-harm/instructions": "self-harm", "sexual/minors": "sexual",
    "violence/graphic": "violence",
}
THRESHOLD = 0.5
# Inputs one request may carry. The official description gives none; chosen as the embeddings' documented
# 2,048, so that a line's output is bounded (each input gets a ~1.2 KB result): 200,000 one-character inputs
# would make a 224 MB output line. Input length needs no limit here: a result's size does not depend on it.
MAX_INPUTS = 2048
MAX_IMAGES = 1  # image parts one multi-modal input may hold (the real 400's words, observed 2026)


def inputs(value: Any) -> list[tuple[str, bool]]:
    """(text, has_image) per result."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        texts = [str(p.get("text", "")) for p in value if p.get("type") == "text"]
        return [(" ".join(texts), any(p.get("type") == "image_url" for p in value))]
    if isinstance(value, list):
        return [(v if isinstance(v, str) else "", False) for v in value] or [("", False)]
    return [(value if isinstance(value, str) else "", False)]


def triggered(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in TRIGGERS)


def result(rng: Any, text: str, has_image: bool) -> dict[str, Any]:
    draw = rng.random
    scores = {c: round(10 ** (-7.0 + 3.5 * draw()), 10) for c in CATEGORIES}
    if triggered(text):
        hit = rng.choice(CATEGORIES)
        scores[hit] = round(rng.uniform(0.85, 0.999), 6)
        if hit in PARENT:
            scores[PARENT[hit]] = max(scores[PARENT[hit]], round(rng.uniform(0.7, 0.95), 6))
    categories = {c: scores[c] >= THRESHOLD for c in CATEGORIES}
    kinds = (["text"] if text else []) + (["image"] if has_image else [])
    applied = {c: kinds if c in IMAGE_CATEGORIES else (["text"] if text else []) for c in CATEGORIES}
    return {"flagged": any(categories.values()), "categories": categories, "category_scores": scores,
            "category_applied_input_types": applied}


def check(value: Any) -> dict[str, Any] | None:
    problem = too_long("input", value, MAX_INPUTS)
    if problem is None and isinstance(value, list):
        images = sum(1 for p in value if isinstance(p, dict) and p.get("type") == "image_url")
        if images > MAX_IMAGES:
            problem = envelope(f"Number of images ({images}) exceeds maximum of {MAX_IMAGES}", "input",
                                 "too_many_images")
    return problem


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    problem = check(body.get("input"))
    if problem is not None:
        return Generated(problem, Usage(), 400)
    rng = ctx.rng
    return Generated({
        "id": "modr-" + ctx.hex(32),
        "model": body.get("model") or ctx.model.snapshot,
        "results": [result(rng, text, image) for text, image in inputs(body.get("input"))],
    }, Usage())
