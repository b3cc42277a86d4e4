"""Azure OpenAI's Files, Uploads, Batches and Models, answered as `openai.AzureOpenAI` expects: OpenAI's handlers on
Azure's paths, the same engine.

Two surfaces (mockbatch.operations): the classic `/openai/...` paths, which require an `api-version` query parameter
(checked here, before the handler runs), and the `/openai/v1/...` paths, which need none. What differs from OpenAI's
`/v1` lives below the handlers: authentication by `api-key` and tenants of their own (render.tenant), errors in
Azure's envelope (render.ERROR_STYLES["azure"]), request ids as UUIDs (render.CommonHeaders).

Azure's own rules for what is created here: a batch is created with the "azure" flavour (frozen onto its plan),
which the engine reads for Azure's limits (100,000 requests, `model_mismatch`), its 24 h window (never expired) and
its error file (published even when empty); a file's `expires_after.seconds` must be 14 to 30 days.
"""

from __future__ import annotations

import functools
import re

from starlette.requests import Request
from starlette.responses import Response

from mockbatch.api import batches, files, models, uploads
from mockbatch.api.render import answer, engine, json_body, tenant
from mockbatch.api.routing import AZURE, AZURE_V1, Endpoint
from mockbatch.errors import InvalidRequest

API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")  # "2024-10-21", "2025-04-01-preview": any dated one
MISSING_VERSION = "The api-version query parameter (?api-version=) is required for all requests."
FILE_TTL_RANGE = (1_209_600, 2_592_000)  # Azure's `expires_after.seconds`: 14 to 30 days


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
    """OpenAI's create, except that Azure's documented create-time `endpoint` without `/v1` ("/chat/completions",
    while the lines say "/v1/chat/completions") is taken as the `/v1` endpoint it stands for."""
    who = tenant(request)
    body = await json_body(request)
    given, known = body.get("endpoint"), engine(request).models.endpoints
    if isinstance(given, str) and given not in known and "/v1" + given in known:
        body["endpoint"] = "/v1" + given
    scenario = request.headers.get("x-mockbatch-scenario")
    return answer(request, await engine(request).batches.create(who, body, scenario, flavour="azure"))


async def create_file(request: Request) -> Response:
    """OpenAI's upload, except that `expires_after.seconds` must be within Azure's 14 to 30 days."""
    return await files.upload_file(request, FILE_TTL_RANGE)


HANDLERS: dict[str, Endpoint] = {
    "files.create": create_file,
    "files.list": files.list_files,
    "files.retrieve": files.retrieve_file,
    "files.content": files.file_content,
    "files.delete": files.delete_file,
    "batches.create": create_batch,
    "batches.list": batches.list_batches,
    "batches.retrieve": batches.retrieve_batch,
    "batches.cancel": batches.cancel_batch,
    "uploads.create": uploads.create_upload,
    "uploads.parts.create": uploads.add_part,
    "uploads.complete": uploads.complete_upload,
    "uploads.cancel": uploads.cancel_upload,
    "models.list": models.list_models,
    "models.retrieve": models.retrieve_model,
}

for _name, _endpoint in HANDLERS.items():
    AZURE.handles(_name)(versioned(_endpoint))
    AZURE_V1.handles(_name)(_endpoint)  # the v1 paths: no api-version needed (one sent is ignored)
