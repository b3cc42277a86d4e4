"""The model table: which models each batch endpoint accepts, the dated snapshot reported for them,
and per-model facts the generators need (embedding size, reasoning).

The table a server uses is a `Catalog` value: the defaults below, plus the user's `--models` file, built
once at start and handed to validation, generation and the worker processes (it pickles). Nothing edits a
module-level table at run time, so a worker process sees exactly the models its server sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS = "/v1/completions"
MODERATIONS = "/v1/moderations"
IMAGES_GENERATIONS = "/v1/images/generations"
IMAGES_EDITS = "/v1/images/edits"
VIDEOS = "/v1/videos"
MESSAGES = "/v1/messages"  # Anthropic's Messages API: the lines of a Message Batch (not a `url` OpenAI's batches take)



@dataclass(frozen=True)
class Endpoint:
    """A batch endpoint: what a line may name as its `url` (its generator: generators.GENERATORS)."""

    path: str
    product: str  # the name the real API puts in front of endpoint-specific messages
    required: str  # the body parameter it cannot do without (besides `model`)
    max_lines: int = 50_000  # requests a batch may hold (OpenAI's Batch API: 50,000; `too_many_tasks` past it)


# In the order the real API lists them in its unknown-endpoint message (recordings from 2025 show the first
# four so, then /v1/moderations appended).
BATCH_ENDPOINTS = (
    Endpoint(CHAT, "Chat Completions", "messages"),
    Endpoint(COMPLETIONS, "Completions", "prompt"),
    Endpoint(EMBEDDINGS, "Embeddings", "input"),
    Endpoint(RESPONSES, "Responses", "input"),
    Endpoint(MODERATIONS, "Moderations", "input"),
    Endpoint(IMAGES_GENERATIONS, "Images", "prompt"),
    Endpoint(IMAGES_EDITS, "Images", "prompt"),
    Endpoint(VIDEOS, "Videos", "prompt"),
)
ENDPOINTS = tuple(e.path for e in BATCH_ENDPOINTS)


@dataclass(frozen=True)
class Model:
    name: str
    snapshot: str
    endpoints: tuple[str, ...]
    dimensions: int | None = None  # embedding models
    reasoning: bool = False
    context_window: int = 128_000
    owned_by: str = "system"  # as /v1/models shows it: "system" for OpenAI's models, the organization for one's own
    max_output: int | None = None  # the most `max_tokens` may ask (Claude models; None: no check)

    @property
    def created(self) -> int:
        """The unix time /v1/models shows: the date in the snapshot's name, else a fixed day (2023-11-14)."""
        found = re.search(r"(\d{4})-(\d{2})-(\d{2})", self.snapshot)
        if found is None:
            return 1_700_000_000
        try:
            return int(datetime(*map(int, found.groups()), tzinfo=UTC).timestamp())
        except ValueError:
            return 1_700_000_000


_TEXT = (CHAT, RESPONSES)

def by_names(models: Iterable[Model]) -> dict[str, Model]:
    """Models by name, and by dated snapshot too (a snapshot is accepted under its own name; a name wins)."""
    table = {m.name: m for m in models}
    for m in list(table.values()):
        table.setdefault(m.snapshot, m)
    return table


MODELS: dict[str, Model] = by_names((
    Model("gpt-4o", "gpt-4o-2024-08-06", _TEXT),
    Model("gpt-4o-mini", "gpt-4o-mini-2024-07-18", _TEXT),
    Model("gpt-4.1", "gpt-4.1-2025-04-14", _TEXT, context_window=1_047_576),
    Model("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", _TEXT, context_window=1_047_576),
    Model("gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", _TEXT, context_window=1_047_576),
    Model("gpt-5", "gpt-5-2025-08-07", _TEXT, reasoning=True, context_window=400_000),
    Model("gpt-5-mini", "gpt-5-mini-2025-08-07", _TEXT, reasoning=True, context_window=400_000),
    Model("gpt-5-nano", "gpt-5-nano-2025-08-07", _TEXT, reasoning=True, context_window=400_000),
    Model("o1", "o1-2024-12-17", _TEXT, reasoning=True, context_window=200_000),
    Model("o3", "o3-2025-04-16", _TEXT, reasoning=True, context_window=200_000),
    Model("o3-mini", "o3-mini-2025-01-31", _TEXT, reasoning=True, context_window=200_000),
    Model("o4-mini", "o4-mini-2025-04-16", _TEXT, reasoning=True, context_window=200_000),
    Model("gpt-3.5-turbo", "gpt-3.5-turbo-0125", (CHAT,), context_window=16_385),
    Model("gpt-3.5-turbo-instruct", "gpt-3.5-turbo-instruct", (COMPLETIONS,), context_window=4_096),
    Model("text-embedding-3-small", "text-embedding-3-small", (EMBEDDINGS,), dimensions=1536, context_window=8191),
    Model("text-embedding-3-large", "text-embedding-3-large", (EMBEDDINGS,), dimensions=3072, context_window=8191),
    Model("text-embedding-ada-002", "text-embedding-ada-002", (EMBEDDINGS,), dimensions=1536,
          context_window=8191),
    Model("omni-moderation-latest", "omni-moderation-2024-09-26", (MODERATIONS,)),
    Model("text-moderation-latest", "text-moderation-007", (MODERATIONS,)),
    Model("gpt-image-1", "gpt-image-1", (IMAGES_GENERATIONS, IMAGES_EDITS)),
    Model("dall-e-2", "dall-e-2", (IMAGES_GENERATIONS, IMAGES_EDITS)),
    Model("dall-e-3", "dall-e-3", (IMAGES_GENERATIONS,)),
    Model("sora-2", "sora-2", (VIDEOS,)),
))



# -- Anthropic's Message Batches (the /v1/messages/batches surface) --------------------------------------------
# Its lines run on the same engine as batches of the endpoint MESSAGES. Anthropic validates each request's
# `params` only when it runs, and a batch may mix models; the engine's checks (one model per batch, a known model)
# must never fail such a batch, so every line names BATCH_MODEL, a stand-in served only on MESSAGES, and carries
# the request's own `params` (the required parameter) and the Claude model they name, resolved at create.
MESSAGES_ENDPOINT = Endpoint(MESSAGES, "Messages", "params", max_lines=100_000)  # Anthropic's limit per batch
BATCH_MODEL = "mockbatch-message-batch"  # never a model a request may name

_CLAUDE = (MESSAGES,)


def _claude(name: str, snapshot: str, max_output: int, thinking: bool = True) -> Model:
    """A Claude model; `thinking`: whether it takes extended thinking (its `reasoning`)."""
    return Model(name, snapshot, _CLAUDE, reasoning=thinking, context_window=200_000, owned_by="anthropic",
                 max_output=max_output)


CLAUDE_MODELS: dict[str, Model] = by_names((
    _claude("claude-opus-4-5", "claude-opus-4-5-20251101", 64_000),
    _claude("claude-haiku-4-5", "claude-haiku-4-5-20251001", 64_000),
    _claude("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 64_000),
    _claude("claude-opus-4-1", "claude-opus-4-1-20250805", 32_000),
    _claude("claude-opus-4-0", "claude-opus-4-20250514", 32_000),
    _claude("claude-sonnet-4-0", "claude-sonnet-4-20250514", 64_000),
    _claude("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219", 64_000),
    _claude("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", 8_192, thinking=False),
    _claude("claude-3-haiku-20240307", "claude-3-haiku-20240307", 4_096, thinking=False),
    # Undated in the SDK's `Model` literal (anthropic 2.15): the name is the id the API reports.
    _claude("claude-opus-4-6", "claude-opus-4-6", 128_000),
    _claude("claude-sonnet-4-6", "claude-sonnet-4-6", 64_000),
    _claude("claude-opus-4-7", "claude-opus-4-7", 128_000),
    _claude("claude-opus-4-8", "claude-opus-4-8", 128_000),
    Model(BATCH_MODEL, BATCH_MODEL, _CLAUDE, owned_by="mockbatch"),
))


# Enqueued-token limits per model (tokens of the batches a tenant has validating, in_progress or
# finalizing). Defaults modelled on the lowest paid usage tier: the gpt-4o-mini figure is the one a real
# `token_limit_exceeded` error names. Models absent here (moderation, image, video) have no limit.
# `--enqueued-token-limit` replaces every figure with one.
ENQUEUED_TOKEN_LIMITS: dict[str, int] = {
    "gpt-4o": 90_000,
    "gpt-4o-mini": 2_000_000,
    "gpt-4.1": 900_000,
    "gpt-4.1-mini": 2_000_000,
    "gpt-4.1-nano": 2_000_000,
    "gpt-5": 1_500_000,
    "gpt-5-mini": 5_000_000,
    "gpt-5-nano": 2_000_000,
    "o1": 90_000,
    "o3": 90_000,
    "o3-mini": 2_000_000,
    "o4-mini": 2_000_000,
    "gpt-3.5-turbo": 2_000_000,
    "gpt-3.5-turbo-instruct": 200_000,
    "text-embedding-3-small": 3_000_000,
    "text-embedding-3-large": 3_000_000,
    "text-embedding-ada-002": 3_000_000,
}


# -- the user's own models ----------------------------------------------------------------------------
class ModelsFileError(ValueError):
    """A models file is unusable; the message names the file, the model and the reason."""


def load_file(path: str, paths: tuple[str, ...] = ENDPOINTS) -> list[tuple[Model, int | None]]:
    """Read a TOML file of models, one table each:

        [models."ft:gpt-4o-mini:acme::x1"]
        endpoints = ["/v1/chat/completions"]   # required
        snapshot = "ft:gpt-4o-mini:acme::x1"    # default: the name
        reasoning = false
        dimensions = 1536                       # embedding models
        enqueued_token_limit = 2000000          # default: no limit
    """
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelsFileError(f"{path}: cannot read: {exc}") from None
    known = {"models"}
    if set(data) - known:
        raise ModelsFileError(f"{path}: {sorted(set(data) - known)[0]}: unknown key")
    out = []
    for name, spec in (data.get("models") or {}).items():
        where = f"{path}: models.{name}"
        if not isinstance(spec, dict):
            raise ModelsFileError(f"{where}: expected a table")
        unknown = set(spec) - {"endpoints", "snapshot", "reasoning", "dimensions", "enqueued_token_limit"}
        if unknown:
            raise ModelsFileError(f"{where}.{sorted(unknown)[0]}: unknown key")
        endpoints = spec.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints or any(e not in paths for e in endpoints):
            raise ModelsFileError(f"{where}.endpoints: expected a list of batch endpoints ({', '.join(paths)})")
        for key, kind in (("snapshot", str), ("reasoning", bool), ("dimensions", int), ("enqueued_token_limit", int)):
            if key in spec and (not isinstance(spec[key], kind) or (kind is int and isinstance(spec[key], bool))):
                raise ModelsFileError(f"{where}.{key}: expected {kind.__name__}")
        model = Model(name, spec.get("snapshot", name), tuple(endpoints), dimensions=spec.get("dimensions"),
                      reasoning=spec.get("reasoning", False), owned_by="org-mockbatch")
        out.append((model, spec.get("enqueued_token_limit")))
    return out


@dataclass(frozen=True)
class Catalog:
    """A server's model table: its batch endpoints, models by name and by dated snapshot, and enqueued-token
    limits by name."""

    models: Mapping[str, Model]
    limits: Mapping[str, int]
    endpoints: Mapping[str, Endpoint]

    def lookup(self, name: str, endpoint: str) -> Model | None:
        """The model if the Batch API accepts it for `endpoint`, else None."""
        model = self.models.get(name)
        if model is None or endpoint not in model.endpoints:
            return None
        return model

    def __getitem__(self, name: str) -> Model:
        """A model by any of its names (a name that validation accepted)."""
        return self.models[name]

    def limit(self, name: str) -> int | None:
        return self.limits.get(self.models[name].name)

    def extended(self, extra: list[tuple[Model, int | None]]) -> Catalog:
        """A new catalog with these models added (or replaced), as a models file gives them."""
        models, limits = dict(self.models), dict(self.limits)
        for model, limit in extra:
            models[model.name] = model
            models.setdefault(model.snapshot, model)
            if limit is not None:
                limits[model.name] = limit
        return Catalog(models, limits, self.endpoints)

    def with_messages(self) -> Catalog:
        """The engine's table: this one plus the Messages endpoint and the Claude models (one's own, from a
        models file, win over the defaults of the same name)."""
        return Catalog({**CLAUDE_MODELS, **self.models}, self.limits, {**self.endpoints, MESSAGES: MESSAGES_ENDPOINT})

    def without_messages(self) -> Catalog:
        """OpenAI's view: no Messages endpoint, and no model that serves only it (so /v1/models and the
        endpoint list of OpenAI's errors stay OpenAI's)."""
        models = {k: m for k, m in self.models.items() if set(m.endpoints) - {MESSAGES}}
        return Catalog(models, self.limits, {k: e for k, e in self.endpoints.items() if k != MESSAGES})

    def with_endpoint(self, endpoint: Endpoint, *models: Model) -> Catalog:
        """A new catalog with a batch endpoint and the models that serve it (its generator goes in
        generators.GENERATORS under the same path)."""
        grown = self.extended([(m, None) for m in models])
        return Catalog(grown.models, grown.limits, {**self.endpoints, endpoint.path: endpoint})


DEFAULT = Catalog(MODELS, ENQUEUED_TOKEN_LIMITS, {e.path: e for e in BATCH_ENDPOINTS})


def build(models_file: str | None, base: Catalog = DEFAULT) -> Catalog:
    """`base` (the defaults), extended by a models file (raises ModelsFileError for an unusable one)."""
    return base.extended(load_file(models_file, (*base.endpoints, MESSAGES))) if models_file else base
