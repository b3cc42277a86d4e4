"""Deterministic response bodies, one module per batch endpoint.

Each module exposes `generate(body, ctx) -> Generated`: a pure function of the request body and a
`LineContext` whose random generator is seeded from (seed, custom_id, body), so the same request
always gets the same response. Adding an endpoint is adding a module and a line to GENERATORS.
"""

from __future__ import annotations

from collections.abc import Callable

from mockbatch.catalog import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    IMAGES_EDITS,
    IMAGES_GENERATIONS,
    MODERATIONS,
    RESPONSES,
    VIDEOS,
)
from mockbatch.generators import chat, completions, embeddings, images, moderations, responses, videos
from mockbatch.generators.base import UNPARSEABLE, Generated, LineContext, Usage

__all__ = ["GENERATORS", "Generated", "LineContext", "Usage"]

Generator = Callable[[dict, LineContext], Generated]


def _parseable(generate: Generator) -> Generator:
    """`generate`, except for a body with a non-finite number (see LineContext), which gets the real 400: nothing
    of such a body reaches an output line, where it would be written as `Infinity`, which is not JSON."""
    def run(body: dict, ctx: LineContext) -> Generated:
        if ctx.unparseable:
            return Generated(UNPARSEABLE, Usage(), 400)
        return generate(body, ctx)
    return run


GENERATORS: dict[str, Generator] = {
    CHAT: _parseable(chat.generate),
    RESPONSES: _parseable(responses.generate),
    EMBEDDINGS: _parseable(embeddings.generate),
    COMPLETIONS: _parseable(completions.generate),
    MODERATIONS: _parseable(moderations.generate),
    IMAGES_GENERATIONS: _parseable(images.generate),
    IMAGES_EDITS: _parseable(images.generate),
    VIDEOS: _parseable(videos.generate),
}
