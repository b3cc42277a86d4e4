"""/v1/embeddings: one unit-length vector per input, in order.

A 1536-float vector written out digit by digit costs more than everything else a batch line does, so
vectors are assembled from segments made once per dimension: each segment is a run of SEGMENT floats
scaled so that its squared length is SEGMENT / dimensions, kept as floats, as JSON text and as
little-endian float32 bytes. A vector is the line's rng picking dimensions / SEGMENT of them (plus one
shorter tail segment when the size is not a multiple): squared lengths add up to exactly 1, up to the
rounding of each float to the 8 significant digits (float32 precision) the real API prints. The body's
JSON text is put together from the segments' text too, and handed to the output writer beside the body.
"""

from __future__ import annotations

import base64
import json
import math
import random
from array import array
from collections.abc import Callable
from functools import cached_property, lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from mockbatch.errors import envelope, range_problem
from mockbatch.generators.base import Generated, LineContext, Usage, estimate_tokens, too_long

SEGMENT = 16  # floats per segment
POOL = 1024  # segments to pick from per dimension (10 random bits a pick)
MAX_INPUTS = 2048  # inputs one request may carry (openapi)
MAX_INPUT_TOKENS = 8192  # tokens of one input, every embedding model (openapi)
MAX_REQUEST_TOKENS = 300_000  # tokens of all of a request's inputs (openapi)
INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


class Encoded(Generated):
    """A result whose `json_text` is made from the pre-formatted segments (the output writer never formats
    the floats), and whose body, with its lists of floats, is only built if someone asks for it."""

    def __init__(self, build: Callable[[], dict[str, Any]], usage: Usage, json_text: str) -> None:
        self.usage, self.status_code, self.json_text, self._build = usage, 200, json_text, build

    @cached_property
    def body(self) -> dict[str, Any]:  # type: ignore[override]
        return self._build()  # type: ignore[no-any-return]


class Segments:
    """POOL pre-scaled segments for one vector size: as floats, as JSON text and as float32 bytes."""

    def __init__(self, dims: int) -> None:
        rng = random.Random(f"embedding-segments:{dims}")  # the same pool in every process, every run
        self.full, self.tail = divmod(dims, SEGMENT)
        self.picks = self.full + (1 if self.tail else 0)
        # A vector is `full` picks from the full segments, then one from the tail segments (if any). A pick is
        # 16 random bits: the tables repeat their POOL entries to 65,536 so any pick indexes them as it is.
        self.tables = [self._tables(rng, size, dims) for size in (SEGMENT, self.tail)]

    @staticmethod
    def _tables(rng: random.Random, size: int, dims: int) -> tuple[list[Any], list[Any], list[Any]]:
        """POOL segments of `size` floats, each of squared length size / dims: as floats, text, float32."""
        floats = []
        for _ in range(POOL if size else 0):
            raw = [rng.gauss(0.0, 1.0) for _ in range(size)]
            scale = math.sqrt(size / dims) / (math.sqrt(sum(x * x for x in raw)) or 1.0)
            floats.append([float(f"{x * scale:.8g}") for x in raw])
        repeat = (1 << 16) // POOL
        texts, packed = [", ".join(map(repr, f)) for f in floats], [_float32(f) for f in floats]
        return floats * repeat, texts * repeat, packed * repeat

    def pick(self, rng: random.Random) -> tuple[itemgetter[Any], int]:
        """The line's choice of segments: a getter of its `full` picks (as a tuple), and the tail's pick."""
        picks = array("H", rng.randbytes(2 * self.picks)).tolist()
        tail = picks.pop() if self.tail else 0
        # A getter of two or more keys gives a tuple: a single pick is asked for twice.
        return itemgetter(*picks, *picks[:1] if len(picks) == 1 else ()) if picks else _NONE, tail

    def _segments(self, kind: int, pick: tuple[itemgetter[Any], int]) -> list[Any]:
        getter, tail = pick
        out = list(getter(self.tables[0][kind])[: self.full]) if self.full else []
        if self.tail:
            out.append(self.tables[1][kind][tail])
        return out

    def as_floats(self, pick: tuple[itemgetter[Any], int]) -> list[float]:
        return list(chain.from_iterable(self._segments(0, pick)))

    def as_text(self, pick: tuple[itemgetter[Any], int]) -> str:
        return "[" + ", ".join(self._segments(1, pick)) + "]"

    def as_base64(self, pick: tuple[itemgetter[Any], int]) -> str:
        return base64.b64encode(b"".join(self._segments(2, pick))).decode()


_LITTLE = array("H", [1]).tobytes() == b"\x01\x00"
_NONE = itemgetter(0)  # the getter of a vector shorter than one segment; never called


def _float32(values: list[float]) -> bytes:
    """Little-endian float32, as the real API's base64 embeddings are."""
    a = array("f", values)
    if not _LITTLE:
        a.byteswap()
    return a.tobytes()


@lru_cache(maxsize=8)
def segments(dims: int) -> Segments:
    return Segments(dims)


def inputs(value: Any) -> list[Any] | None:
    """A string, a list of strings, a token array, or a list of token arrays -> the inputs; None if malformed."""
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list) and value and all(_is_token(v) for v in value):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        return None
    if not items:
        return None
    for item in items:
        if isinstance(item, str):
            if not item:
                return None
        elif not (isinstance(item, list) and item and all(_is_token(t) for t in item)):
            return None
    return items


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def input_tokens(item: Any) -> int:
    if isinstance(item, list):
        return len(item)
    return estimate_tokens(str(item))


def _error(message: str, param: str | None = None, code: str | None = None) -> Generated:
    return Generated(envelope(message, param, code), Usage(), status_code=400)


def _dimensions(body: dict[str, Any], ctx: LineContext) -> int | Generated:
    native = ctx.model.dimensions or 1536
    if body.get("dimensions") is None:
        return native
    dims = body["dimensions"]  # an integer of at least 1 (the request schema); its top depends on the model
    if ctx.model.name == "text-embedding-ada-002":
        return _error("This model does not support specifying dimensions.", "dimensions")
    problem = range_problem("dimensions", dims, 1, native)
    if problem is not None:
        return _error(problem[0], "dimensions", problem[1])
    return int(dims)


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    dims = _dimensions(body, ctx)
    if isinstance(dims, Generated):
        return dims
    encoding = body.get("encoding_format")  # "float" or "base64" (the request schema)
    value = body.get("input")
    if isinstance(value, list) and len(value) > MAX_INPUTS and not all(map(_is_token, value)):  # one token array
        return Generated(too_long("input", value, MAX_INPUTS) or {}, Usage(), 400)  # is one input, of many tokens
    items = inputs(value)
    if items is None:
        return _error(INVALID_INPUT)
    counts = [input_tokens(item) for item in items]
    if max(counts) > MAX_INPUT_TOKENS:  # the real words (2026), with neither param nor code
        return _error(f"Invalid 'input': maximum context length is {MAX_INPUT_TOKENS} tokens.")
    tokens = sum(counts)
    if tokens > MAX_REQUEST_TOKENS:
        body_ = envelope(f"Requested {tokens} tokens, max {MAX_REQUEST_TOKENS} tokens per request", None,
                           "max_tokens_per_request", "max_tokens_per_request")
        return Generated(body_, Usage(), 400)
    seg = segments(dims)
    picks = [seg.pick(ctx.rng) for _ in items]

    def body(vector: Any) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": vector(p)} for i, p in enumerate(picks)],
            "model": ctx.model.snapshot,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    if encoding == "base64":
        return Generated(body(seg.as_base64), Usage(input=tokens))
    # The skeleton holds a marker where each vector goes; nothing else in it comes from the request.
    parts = json.dumps(body(lambda p: _MARK)).split(_MARK_JSON)
    text = "".join(part for pair in zip(parts, [*(seg.as_text(p) for p in picks), ""], strict=True) for part in pair)
    return Encoded(lambda: body(seg.as_floats), Usage(input=tokens), text)


_MARK = "\x00vector\x00"
_MARK_JSON = json.dumps(_MARK)
