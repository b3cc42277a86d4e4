"""/v1/images/generations and /v1/images/edits: an `ImagesResponse` with `n` small, valid PNGs.

Each image is a tiny PNG (1/32 of the requested size per side) with a diagonal gradient between two
seeded colours, encoded with zlib and struct; a transparent background gives an RGBA image whose
corners are clear. Images are always PNG (`output_format: "png"`), returned as `b64_json` for every
model (also for DALL·E models asked for `url`, since the mock has nowhere to host them).

GPT image models echo `size`, `quality` and `background` (`auto` resolved to 1024x1024, high and
opaque) and report usage: text tokens of the prompt, 765 tokens per input image of an edit, and
output tokens per image from the published table for quality and size (scaled by area for other
sizes). DALL·E models return `created` and `data` only, as they really do (`revised_prompt` from dall-e-3).
`n` outside 1..10 gets the real 400 error.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from mockbatch.errors import envelope, invalid_value
from mockbatch.generators.base import (
    IMAGE_TOKENS,
    Generated,
    LineContext,
    Usage,
    estimate_tokens,
    over_max_length,
    positive_int,
    text,
    too_long,
)

OUTPUT_TOKENS = {  # per image: quality -> size -> tokens
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
QUALITIES = ("low", "medium", "high")
DEFAULT_SIZE, DEFAULT_QUALITY, DEFAULT_BACKGROUND = "1024x1024", "high", "opaque"
SCALE = 32  # the PNG is this many times smaller than the requested size, per side
# From the openapi: prompt lengths by model, input images of an edit (generations too), the largest size
# (gpt-image-2 takes any WIDTHxHEIGHT up to 3840x2160; other models a few fixed sizes, which the mock does not
# insist on). A size past it is refused: the PNG's pixels, and so the output, grow with it.
PROMPT_LENGTH = {"dall-e-2": 1000, "dall-e-3": 4000}
GPT_IMAGE_PROMPT_LENGTH = 32_000
MAX_IMAGES = 16
MAX_EDGE, MAX_PIXELS = 3840, 3840 * 2160
SIZES = {"dall-e-2": ["256x256", "512x512", "1024x1024"], "dall-e-3": ["1024x1024", "1792x1024", "1024x1792"]}
GPT_IMAGE_SIZES = ["1024x1024", "1024x1536", "1536x1024", "auto"]


def dimensions(size: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        return 1024, 1024
    return max(width, 1), max(height, 1)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(rng: Any, width: int, height: int, transparent: bool) -> bytes:
    """A width x height PNG: a seeded two-colour diagonal gradient (RGBA with clear corners if transparent)."""
    start = [rng.randrange(256) for _ in range(3)]
    end = [rng.randrange(256) for _ in range(3)]
    span = max(width + height - 2, 1)
    ramp = [bytes(s + (e - s) * i // span for s, e in zip(start, end, strict=True)) for i in range(span + 1)]
    radius2 = (min(width, height) / 2) ** 2
    cx, cy = (width - 1) / 2, (height - 1) / 2
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        if not transparent:
            rows += b"".join(ramp[y:y + width])
            continue
        for x in range(width):
            rows += ramp[x + y]
            rows.append(255 if (x - cx) ** 2 + (y - cy) ** 2 <= radius2 else 0)
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if transparent else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
            + _chunk(b"IEND", b""))


def output_tokens(quality: str, size: str) -> int:
    table = OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS[DEFAULT_QUALITY])
    if size in table:
        return table[size]
    width, height = dimensions(size)
    return max(1, round(table["1024x1024"] * width * height / (1024 * 1024)))


def input_images(body: dict[str, Any]) -> int:
    """How many images an edit starts from (`images`, or `image` as one or a list)."""
    for key in ("images", "image"):
        value = body.get(key)
        if isinstance(value, list):
            return len(value)
        if value is not None:
            return 1
    return 0


def check(body: dict[str, Any], ctx: LineContext) -> dict[str, Any] | None:
    name = ctx.model.name
    # `n`: the request schema (linecheck.py); the prompt's length by model and the number of images here
    problem = (too_long("prompt", body.get("prompt"), PROMPT_LENGTH.get(name, GPT_IMAGE_PROMPT_LENGTH))
               or over_max_length(body, {"image": MAX_IMAGES, "images": MAX_IMAGES}))
    size = body.get("size")
    if problem is None and isinstance(size, str) and size != "auto":
        width, height = dimensions(size)
        if max(width, height) > MAX_EDGE or width * height > MAX_PIXELS:  # the real words for an unknown size
            err = invalid_value(size, SIZES.get(name, GPT_IMAGE_SIZES), "size")
            problem = envelope(err.message, err.param, err.code)
    return problem


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    problem = check(body, ctx)
    if problem is not None:
        return Generated(problem, Usage(), 400)
    rng = ctx.rng
    n = max(positive_int(body.get("n")) or 1, 1)
    gpt_image = ctx.model.name.startswith("gpt-image")
    size = body.get("size") if isinstance(body.get("size"), str) and body.get("size") != "auto" else DEFAULT_SIZE
    background = body.get("background") if body.get("background") in ("transparent", "opaque") else DEFAULT_BACKGROUND
    quality = body.get("quality") if body.get("quality") in QUALITIES else DEFAULT_QUALITY
    width, height = dimensions(size)
    transparent = gpt_image and background == "transparent"
    data = []
    for _ in range(n):
        image = png(rng, max(width // SCALE, 1), max(height // SCALE, 1), transparent)
        item: dict[str, Any] = {"b64_json": base64.b64encode(image).decode()}
        if ctx.model.name == "dall-e-3":
            item["revised_prompt"] = f"{body.get('prompt', '')} {text(rng, 1, 2)}".strip()
        data.append(item)
    if not gpt_image:
        return Generated({"created": ctx.created, "data": data}, Usage())
    text_tokens = estimate_tokens(body.get("prompt") if isinstance(body.get("prompt"), str) else "")
    image_tokens = IMAGE_TOKENS * input_images(body)
    produced = output_tokens(quality, size) * n
    prompt = text_tokens + image_tokens
    return Generated({
        "created": ctx.created,
        "data": data,
        "background": background,
        "output_format": "png",
        "size": size,
        "quality": quality,
        "usage": {
            "total_tokens": prompt + produced,
            "input_tokens": prompt,
            "output_tokens": produced,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens_details": {"text_tokens": 0, "image_tokens": produced},
        },
    }, Usage(input=prompt, output=produced))
