"""The HTTP layer: parse the request, call the engine, render the answer. Nothing else."""

from __future__ import annotations

from starlette.routing import Mount

from mockbatch.api import batches, control, files, openapi, uploads

routes = [
    Mount("/v1", routes=batches.routes + files.routes + uploads.routes),  # batches first: polls are the hot path
    Mount("/_mockbatch", routes=control.routes),
    *openapi.routes,
]
