"""Azure OpenAI's Files, Uploads, Batches and Models, answered as `openai.AzureOpenAI` expects: OpenAI's handlers on
Azure's paths, the same engine.

Two surfaces (mockbatch.operations): the classic `/openai/...` paths, which require an `api-version` query parameter
(checked here, before the handler runs), and the `/openai/v1/...` paths, which need none. What differs from OpenAI's
`/v1` lives below the handlers: authentication by `api-key` and tenants of their own (render.tenant), errors in
Azure's envelope (render.ERROR_STYLES["azure"]), request ids as UUIDs (render.CommonHeaders).

Azure's own rules for what is created here: batches and files are created with the "azure" flavour (plan.FLAVOURS),
which the engine reads for Azure's limits (100,000 requests, `model_mismatch`), its create-time endpoint without
`/v1`, its 24 h window (never expired), its error file (published even when empty) and a file's `expires_after`
(14 to 30 days).
"""

from __future__ import annotations

import functools
import re

from starlette.requests import Request
from starlette.responses import Response

from mockbatch import operations
from mockbatch.api import batches, files, models, uploads  # noqa: F401  (OpenAI's handlers, attached before reuse)
from mockbatch.api.routing import AZURE, AZURE_V1, OPENAI, Endpoint
from mockbatch.errors import InvalidRequest

API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")  # "2024-10-21", "2025-04-01-preview": any dated one
MISSING_VERSION = "The api-version query parameter (?api-version=) is required for all requests."


def check_version(request: Request) -> None:
    """A classic path's `api-version`: present (else Azure's 400 MissingApiVersionParameter) and dated."""
    version = request.query_params.get("api-version")
    if not version:
        raise InvalidRequest(MISSING_VERSION, code="MissingApiVersionParameter")
    if not API_VERSION.fullmatch(version):
        raise InvalidRequest(f"The api-version '{version}' is invalid. It must be a date (YYYY-MM-DD), optionally "
                             "followed by '-preview'.", code="InvalidApiVersionParameter")


def versioned(endpoint: Endpoint) -> Endpoint:
    """The handler, after the api-version check."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        check_version(request)
        return await endpoint(request)

    return wrapped


async def create_batch(request: Request) -> Response:
    return await batches.create_batch(request, "azure")


async def create_file(request: Request) -> Response:
    return await files.upload_file(request, "azure")


# OpenAI's handlers under OpenAI's names, but the two creates, which take Azure's rules (plan.FLAVOURS["azure"]).
HANDLERS: dict[str, Endpoint] = {
    **{op.name: OPENAI.endpoints[op.name] for op in operations.AZURE.operations},
    "files.create": create_file,
    "batches.create": create_batch,
}

for _name, _endpoint in HANDLERS.items():
    AZURE.handles(_name)(versioned(_endpoint))
    AZURE_V1.handles(_name)(_endpoint)  # the v1 paths: no api-version needed (one sent is ignored)
