"""/v1/uploads: create, add a part (multipart `data`), complete, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from mockbatch.api.files import file_chunks
from mockbatch.api.render import engine, json_body, json_response, tenant
from mockbatch.api.routing import OPENAI
from mockbatch.engine.uploads import MAX_PART_BYTES, part_too_large
from mockbatch.errors import InvalidRequest, missing_parameter

FORM_OVERHEAD = 1 << 20  # room for the multipart framing around a part of the maximum size


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@OPENAI.handles("uploads.create")
async def create_upload(request: Request) -> Response:
    who = tenant(request)
    return json_response(await engine(request).uploads.create(who, await json_body(request)))


@OPENAI.handles("uploads.parts.create")
async def add_part(request: Request) -> Response:
    who = tenant(request)
    upload_id = request.path_params["upload_id"]
    uploads = engine(request).uploads
    # Refuse before reading the body: a part of a closed upload, or one too big by its Content-Length.
    await uploads.require_pending(who, upload_id, "add a Part to")
    if int(request.headers.get("content-length") or 0) > MAX_PART_BYTES + FORM_OVERHEAD:
        raise part_too_large()
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("Expected a multipart/form-data body with the field 'data'.")
    try:
        form = await request.form(max_files=1, max_fields=10)  # file parts spool to disk past 1 MB
    except Exception as exc:  # the multipart parser's own complaint, as a 400
        raise InvalidRequest(f"Could not parse the multipart form: {exc}") from None
    try:
        data = form.get("data")
        if isinstance(data, UploadFile):
            chunks = file_chunks(data)
        elif isinstance(data, str):  # sent without a filename: a plain (small) form field
            chunks = _one(data.encode())
        else:
            raise missing_parameter("data")
        part = await uploads.add_part(who, upload_id, chunks)
    finally:
        await form.close()
    return json_response(part)


@OPENAI.handles("uploads.complete")
async def complete_upload(request: Request) -> Response:
    who = tenant(request)
    return json_response(await engine(request).uploads.complete(who, request.path_params["upload_id"],
                                                                await json_body(request)))


@OPENAI.handles("uploads.cancel")
async def cancel_upload(request: Request) -> Response:
    return json_response(await engine(request).uploads.cancel(tenant(request), request.path_params["upload_id"]))

