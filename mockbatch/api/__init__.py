"""The HTTP layer: parse the request, call the engine, render the answer. Nothing else."""

from __future__ import annotations

from mockbatch.api import (  # noqa: F401  (each attaches its handlers)
    anthropic,
    azure,
    batches,
    control,
    files,
    models,
    openapi,
    uploads,
    webhooks,
)
from mockbatch.api.routing import build_routes

routes = build_routes()  # from the tables in mockbatch.operations: batches first, as polls are the hot path
