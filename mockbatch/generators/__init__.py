"""Deterministic response bodies, one module per batch endpoint.

Each module exposes `generate(body, ctx) -> Generated`: a pure function of the request body and a
`LineContext` whose random generator is seeded from (seed, custom_id, body), so the same request
always gets the same response. Adding an endpoint is adding a module and a line to GENERATORS.
"""

from __future__ import annotations

from collections.abc import Callable

from mockbatch import linecheck
from mockbatch.catalog import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    IMAGES_EDITS,
    IMAGES_GENERATIONS,
    MESSAGES,
    MODERATIONS,
    RESPONSES,
    VIDEOS,
)
from mockbatch.errors import envelope
from mockbatch.generators import chat, completions, embeddings, images, messages, moderations, responses, videos
from mockbatch.generators.base import UNPARSEABLE, Generated, LineContext, Usage

__all__ = ["GENERATORS", "Generated", "LineContext", "Usage"]

Generator = Callable[[dict, LineContext], Generated]


def _parseable(endpoint: str, generate: Generator) -> Generator:
    """`generate`, for a request the real API takes. A body with a non-finite number (see LineContext) gets the real
    400 first: nothing of such a body reaches an output line, where it would be written as `Infinity`, which is not
    JSON. Then the endpoint's request schema (mockbatch/linecheck.py): a request it refuses gets its 400. The
    generator's own checks (limits the schema does not state, model-dependent ones) come after."""
    check = linecheck.validator(endpoint)

    def run(body: dict, ctx: LineContext) -> Generated:
        if ctx.unparseable:
            return Generated(UNPARSEABLE, Usage(), 400)
        problem = check(body, ctx.model)
        if problem is not None:
            return Generated(envelope(*problem), Usage(), 400)
        return generate(body, ctx)
    return run


GENERATORS: dict[str, Generator] = {
    CHAT: _parseable(CHAT, chat.generate),
    RESPONSES: _parseable(RESPONSES, responses.generate),
    EMBEDDINGS: _parseable(EMBEDDINGS, embeddings.generate),
    COMPLETIONS: _parseable(COMPLETIONS, completions.generate),
    MODERATIONS: _parseable(MODERATIONS, moderations.generate),
    IMAGES_GENERATIONS: _parseable(IMAGES_GENERATIONS, images.generate),
    IMAGES_EDITS: _parseable(IMAGES_EDITS, images.generate),
    VIDEOS: _parseable(VIDEOS, videos.generate),
    MESSAGES: messages.generate,  # Anthropic's bodies are checked there: no inf reaches it (refused at create)
}
