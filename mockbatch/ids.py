"""Object ids in the real formats, derived from (seed, kind, sequence number) so a run is reproducible.

The sequence numbers are persisted by the store, so ids stay unique and reproducible across restarts.
"""

from __future__ import annotations

import hashlib

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _utf8(text: str) -> bytes:
    """UTF-8, with a lone surrogate (legal in JSON: a client's truncated emoji) kept as its own bytes instead of
    raising; a string without one encodes exactly as `str.encode` does, so no existing id changes."""
    return text.encode("utf-8", "surrogatepass")


def digest(*parts: object, size: int = 16) -> bytes:
    return hashlib.blake2b(_utf8(":".join(map(str, parts))), digest_size=size).digest()


def base62(data: bytes, length: int) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(out)


def file_id(seed: int, seq: int) -> str:
    """`file-` + 22 base62 characters, as the real API issues them."""
    return "file-" + base62(digest(seed, "file", seq, size=24), 22)


def batch_id(seed: int, seq: int, created_at: float) -> str:
    """`batch_` + 32 hex; the first 8 are the creation time in hex, as observed on real ids."""
    return f"batch_{int(created_at) & 0xFFFFFFFF:08x}" + digest(seed, "batch", seq, size=12).hex()


def upload_id(seed: int, seq: int) -> str:
    return "upload_" + digest(seed, "upload", seq, size=16).hex()


def part_id(seed: int, seq: int) -> str:
    return "part_" + digest(seed, "part", seq, size=16).hex()


def request_id(seed: int, seq: int) -> str:
    """`req_` + 32 hex for the x-request-id header."""
    return "req_" + digest(seed, "req", seq).hex()


def message_batch_id(seed: int, seq: int) -> str:
    """`msgbatch_01` + 22 base62, as Anthropic's ids look (`msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d`)."""
    return "msgbatch_01" + base62(digest(seed, "msgbatch", seq, size=24), 22)


def anthropic_request_id(seed: int, seq: int) -> str:
    """`req_01` + 22 base62 for Anthropic's request-id header (the same sequence as `request_id`)."""
    return "req_01" + base62(digest(seed, "req", seq, size=24), 22)
