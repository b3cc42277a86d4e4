"""/v1/embeddings: one unit-length vector per input, in order."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from mockbatch.generators.base import Generated, LineContext, Usage, estimate_tokens


def inputs(value: Any) -> list[Any]:
    """A string, a list of strings, a token array, or a list of token arrays -> the list of inputs."""
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    if isinstance(value, list):
        return value
    return [value]


def input_tokens(item: Any) -> int:
    if isinstance(item, list):
        return len(item)
    return estimate_tokens(str(item))


def vector(ctx: LineContext, dims: int) -> list[float]:
    gauss = ctx.rng.gauss
    raw = [gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    dims = body.get("dimensions") if isinstance(body.get("dimensions"), int) else ctx.model.dimensions or 1536
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for index, item in enumerate(inputs(body.get("input"))):
        tokens += input_tokens(item)
        vec = vector(ctx, dims)
        embedding: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if as_base64 else vec
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return Generated({
        "object": "list",
        "data": data,
        "model": ctx.model.snapshot,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }, Usage(input=tokens))
