"""The HTTP layer: parse the request, call the engine, render the answer. Nothing else."""

from __future__ import annotations

from starlette.routing import Mount

from mockbatch.api import batches, control, files, openapi, uploads

routes = [
    Mount("/v1", routes=files.routes + batches.routes + uploads.routes),
    Mount("/_mockbatch", routes=control.routes),
    *openapi.routes,
]
