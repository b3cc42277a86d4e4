"""What every generator shares: the per-line context, usage, token estimates and fake text.

Token counts are estimates, the same for the same request on every run:
  * text: one token per four characters, rounded up (`estimate_tokens`, from mockbatch/tokens.py);
  * a chat message or Responses input item: its text plus 4 tokens of framing, plus 3 per request;
  * an image part: 85 tokens with `detail: "low"`, else 765; other non-text parts: 0;
  * tool definitions and a response format's JSON schema: the tokens of their compact JSON;
  * output: the tokens of the visible text (or tool call name + arguments), plus reasoning tokens for
    reasoning models, drawn from a range set by the reasoning effort (REASONING_EFFORT).
Each endpoint's module says what else it counts (stored prompts, image inputs and outputs).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import cached_property
from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii
from typing import Any

from faker.providers.lorem.en_US import Provider as _Lorem

from mockbatch import catalog, ids
from mockbatch.errors import envelope, length_above, range_problem
from mockbatch.tokens import estimate_tokens  # here too, where the generators have always found it

# Faker's English lorem words; sampled with the line's own seeded generator (fast and reproducible).
WORDS: tuple[str, ...] = tuple(_Lorem.word_list)
# Byte -> base62 character, for ids drawn as random bytes (the slight bias is irrelevant for ids).
_BASE62 = bytes(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[b % 62] for b in range(256))


@dataclass(slots=True)  # not frozen: a frozen dataclass is three times slower to make, and lines make many
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


@dataclass(slots=True)
class Generated:
    body: dict[str, Any]
    usage: Usage
    status_code: int = 200
    json_text: str | None = None  # the body as `dumps` writes it, when the generator wrote it itself (faster)


class LineContext:
    """Everything a generator may use besides the body: the line's randomness, the model and the time.

    The randomness follows from the line's key, a hash of (seed, custom_id, body). `randbytes` draws
    straight from the key (a keyed hash per draw), which covers the few draws of a plain answer: its ids and
    its sentences. `rng`, a Random seeded from the same key, is made only for a generator that needs more:
    seeding a Mersenne Twister costs about a sixth of a whole plain chat line."""

    unparseable = False  # the body holds a number JSON cannot write (1e999 parses as inf): it gets UNPARSEABLE

    def __init__(self, seed: int, custom_id: str, body: dict[str, Any], created: int, model: catalog.Model) -> None:
        try:  # the key's encoding refuses inf anywhere in the body: the one walk the line makes anyway finds it
            text = "".join(_canonical_strict(body, 0))  # `canonical(body)`
        except ValueError:
            text, self.unparseable = "", True
        self.key = hashlib.blake2b(f"{seed}:{custom_id}:{text}".encode("utf-8", "surrogatepass"),
                                   digest_size=16).digest()  # ids.digest's bytes, inlined (0.3 µs a line less)
        self.created = created
        self.model = model
        self._draws = 0

    @cached_property
    def rng(self) -> random.Random:
        return seeded_random(int.from_bytes(self.key))  # an int seeds faster than bytes

    def randbytes(self, size: int) -> bytes:
        """`size` random bytes, the line's next draw."""
        self._draws += 1
        if 0 < size <= 64:  # one hash (the usual draw)
            return hashlib.blake2b(self.key + self._draws.to_bytes(4, "little"), digest_size=size).digest()
        # none, or several hashes of up to 64 bytes each
        return b"".join(hashlib.blake2b(self.key + self._draws.to_bytes(4, "little") + part.to_bytes(4, "little"),
                                        digest_size=min(64, size - 64 * part)).digest()
                        for part in range(-(-size // 64)))

    def getrandbits(self, k: int) -> int:
        """`k` random bits (as `Random.getrandbits`), the line's next draw."""
        size = (k + 7) // 8
        return int.from_bytes(self.randbytes(size), "little") >> (8 * size - k)

    def hex(self, n: int) -> str:
        return f"{self.getrandbits(4 * n):0{n}x}"

    def base62(self, n: int) -> str:
        """`n` base62 characters, one a random byte: as `getrandbits(8 * n)` gives them, without the int between."""
        return self.randbytes(n).translate(_BASE62).decode()


# -- interpreter internals: each used in one function, each checked by tests/test_internals.py ------------------


def seeded_random(seed: int) -> random.Random:
    """`random.Random(seed)` for an int, the same generator, made without the Python steps of `Random.__init__`
    and `Random.seed`, which for an int end in the C seeding this calls straight (a line needing more than a few
    draws makes one: LineContext.rng)."""
    rng = random.Random.__new__(random.Random)
    # Internal: Random's C base class, `_random.Random`, whose `seed(int)` is where `Random.seed(int)` ends.
    random.Random.__mro__[1].seed(rng, seed)
    rng.gauss_next = None  # what Random.seed sets besides
    return rng


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder(sort_keys: bool, ascii: bool, separators: tuple[str, str], allow_nan: bool = True) -> Any:
    """A one-shot JSON encoder made once, not per call as `json.dumps` makes it (a line encodes several
    values); no circular-reference check, as generated values are trees. Same text as `json.dumps`.
    Called as `encoder(value, 0)`, it gives the text's pieces."""
    if c_make_encoder is None:  # an interpreter without the C accelerator: the public, slower encoder
        return json.JSONEncoder(sort_keys=sort_keys, ensure_ascii=ascii, separators=separators,
                                allow_nan=allow_nan).iterencode
    # Internal: `json.encoder.c_make_encoder`, the C encoder `json.dumps` makes on every call; its arguments are
    # markers, default, string encoder, indent, key separator, item separator, sort_keys, skipkeys, allow_nan.
    return c_make_encoder(None, _unencodable, encode_basestring_ascii if ascii else encode_basestring, None,
                          separators[1], separators[0], sort_keys, False, allow_nan)


_dumps = _encoder(False, True, (", ", ": "))
_canonical = _encoder(True, False, (",", ":"))
_canonical_strict = _encoder(True, False, (",", ":"), allow_nan=False)  # the same text, or ValueError for inf


_NEEDS_NO_ESCAPE = bytes(range(0x20, 0x7F)).replace(b'"', b"").replace(b"\\", b"")


def json_string(value: str) -> str:
    """A string as `dumps` writes it; faster than `encode_basestring_ascii` for the usual one with nothing to
    escape (generated prose), which is found by deleting every byte that needs no escaping."""
    if value.isascii() and not value.encode().translate(None, _NEEDS_NO_ESCAPE):
        return f'"{value}"'
    return encode_basestring_ascii(value)


def dumps(value: Any) -> str:
    """`json.dumps(value)`, exactly, faster."""
    return "".join(_dumps(value, 0))


def canonical(body: Any) -> str:
    """Compact JSON with sorted keys: the same text for the same value, however its keys were ordered."""
    return "".join(_canonical(body, 0))


def sentence(rng: random.Random, words: int) -> str:
    picked = rng.choices(WORDS, k=max(1, words))
    return " ".join(picked).capitalize() + "."


# -- shared by the text endpoints (token rules: see the module docstring) --------------------------

IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS = 765

# Reasoning tokens drawn per answer, by effort (reasoning models only).
REASONING_EFFORT: dict[str, tuple[int, int]] = {
    "none": (0, 0),
    "minimal": (0, 64),
    "low": (64, 256),
    "medium": (192, 768),
    "high": (512, 2048),
    "xhigh": (1024, 4096),
}
DEFAULT_EFFORT = "medium"

# Visible output tokens one line may produce, all its choices together (chosen: a real model stops at its own
# output limit, 16,384 tokens for gpt-4o; this is twice that). Past it an answer is cut as `max_tokens` cuts it
# (chat: `finish_reason: "length"`; Responses: `incomplete`). Plain answers are far below it (128 choices of at
# most 168 tokens); only schema instances and stored-prompt variables reach it. It bounds each line's output.
LINE_OUTPUT_TOKENS = 32_768

# A fixed pool of sentences, built once from the same lorem words: an answer is a seeded pick of a
# few of them, all drawn in one random call (12 bits a sentence) instead of one per word.
SENTENCE_BITS = 12
_pool_rng = random.Random(20240601)
SENTENCES: tuple[str, ...] = tuple(sentence(_pool_rng, _pool_rng.randint(5, 14))
                                   for _ in range(1 << SENTENCE_BITS))
del _pool_rng
_PICK = (1 << SENTENCE_BITS) - 1


def text(rng: random.Random | LineContext, low: int = 2, high: int = 6) -> str:
    """A paragraph of `low`..`high` sentences: one draw gives the count (its low 16 bits, modulo the range:
    the bias is immaterial for lorem) and the sentences (the bits above)."""
    draw = rng.getrandbits(16 + SENTENCE_BITS * high)
    count = low + (draw & 0xFFFF) % (high - low + 1)
    draw >>= 16
    picked = []
    for _ in range(count):
        picked.append(SENTENCES[draw & _PICK])
        draw >>= SENTENCE_BITS
    return " ".join(picked)


def part_tokens(part: Any) -> int:
    """Tokens of one content part (a string or a typed part of a chat message or Responses input)."""
    if isinstance(part, str):
        return estimate_tokens(part)
    if not isinstance(part, dict):
        return 0
    kind = part.get("type")
    if kind in ("image_url", "input_image"):
        image = part.get("image_url")
        detail = image.get("detail") if isinstance(image, dict) else part.get("detail")
        return IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS
    value = part.get("text")
    if value is None and kind in ("refusal",):
        value = part.get("refusal")
    return estimate_tokens(value) if isinstance(value, str) else 0


def content_tokens(content: Any) -> int:
    if isinstance(content, list):
        return sum(part_tokens(p) for p in content)
    return part_tokens(content)


def json_tokens(value: Any) -> int:
    """Tokens of a value as compact JSON (tool definitions, schemas)."""
    if value is None:
        return 0
    return estimate_tokens(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def reasoning_tokens(rng: random.Random, model: catalog.Model, effort: Any) -> int:
    if not model.reasoning:
        return 0
    low, high = REASONING_EFFORT.get(effort if isinstance(effort, str) else DEFAULT_EFFORT,
                                     REASONING_EFFORT[DEFAULT_EFFORT])
    return rng.randint(low, high) if high else 0


def positive_int(value: Any) -> int | None:
    """An integer request parameter (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_fingerprints: dict[str, str] = {}


def fingerprint(model: catalog.Model) -> str:
    """`fp_` + 10 hex: fixed per model, as a deployment's fingerprint is."""
    fp = _fingerprints.get(model.snapshot)
    if fp is None:
        fp = _fingerprints[model.snapshot] = "fp_" + ids.digest("fingerprint", model.snapshot, size=5).hex()
    return fp


class ItemIds:
    """Ids in the Responses style, `<prefix>_` + 50 hex: a part shared by one response and its items, the
    creation time in hex, then a per-item part with the `8191` marker seen in real ids."""

    def __init__(self, ctx: LineContext) -> None:
        self.rng = ctx.rng
        self.shared = f"{self.rng.getrandbits(72):018x}{ctx.created & 0xFFFFFFFF:08x}"

    def __call__(self, prefix: str) -> str:
        own = f"{self.rng.getrandbits(80):020x}"
        return f"{prefix}_{self.shared}{own[:4]}8191{own[4:]}"


UNPARSEABLE = envelope(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library "
    "correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble "
    "figuring out how to fix this, please contact us through our help center at help.openai.com.)", None, None)


def too_long(param: str, value: Any, limit: int) -> dict[str, Any] | None:
    """The real 400 for an array or string parameter over its maximum length, else None."""
    kind = "array" if isinstance(value, list) else "string" if isinstance(value, str) else None
    if kind is None or len(value) <= limit:
        return None
    message, code = length_above(kind, param, limit, len(value))
    return envelope(message, param, code)


def over_max_length(body: dict[str, Any], limits: dict[str, int]) -> dict[str, Any] | None:
    """`too_long` for the first of these top-level parameters over its limit."""
    for name, limit in limits.items():
        problem = too_long(name, body.get(name), limit)
        if problem is not None:
            return problem
    return None


def out_of_range(body: dict[str, Any], limits: dict[str, tuple[int, int]]) -> dict[str, Any] | None:
    """The real 400 for the first integer parameter outside its allowed range, else None."""
    for name, (low, high) in limits.items():
        value = body.get(name)
        if value is None or not isinstance(value, int) or isinstance(value, bool):
            continue
        problem = range_problem(name, value, low, high)
        if problem is not None:
            return envelope(problem[0], name, problem[1])
    return None
