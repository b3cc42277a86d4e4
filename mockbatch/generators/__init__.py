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
from mockbatch.generators.base import Generated, LineContext, Usage

__all__ = ["GENERATORS", "Generated", "LineContext", "Usage"]

GENERATORS: dict[str, Callable[[dict, LineContext], Generated]] = {
    CHAT: chat.generate,
    RESPONSES: responses.generate,
    EMBEDDINGS: embeddings.generate,
    COMPLETIONS: completions.generate,
    MODERATIONS: moderations.generate,
    IMAGES_GENERATIONS: images.generate,
    IMAGES_EDITS: images.generate,
    VIDEOS: videos.generate,
}
