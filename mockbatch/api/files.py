"""/v1/files: upload (multipart), list, retrieve, content, delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockbatch.api.render import answer, choice_param, engine, int_param, json_response, tenant
from mockbatch.api.routing import OPENAI
from mockbatch.engine.files import MAX_FILE_BYTES
from mockbatch.errors import InvalidRequest, PayloadTooLarge, invalid_type, missing_parameter

READ_SIZE = 1 << 20


async def file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    """A multipart file part's bytes, a megabyte at a time (never whole in memory); uploads' parts use it too."""
    while data := await upload.read(READ_SIZE):
        yield data


@OPENAI.handles("files.create")
async def create_file(request: Request) -> Response:
    return await upload_file(request)


async def upload_file(request: Request, flavour: str = "openai") -> Response:
    """POST /files, multipart, through the surface of `flavour` (plan.FLAVOURS: its rules for the file)."""
    who = tenant(request)
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_FILE_BYTES + (1 << 20):
        raise PayloadTooLarge(f"File is too large. The maximum size is {MAX_FILE_BYTES} bytes.", param="file")
    engine(request).files.expect_upload(size)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("Expected a multipart/form-data body with the fields 'file' and 'purpose'.")
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as exc:  # the multipart parser's own complaint, as a 400
        raise InvalidRequest(f"Could not parse the multipart form: {exc}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise missing_parameter("file")
        expires_after = _expires_after(form)
        purpose = form.get("purpose")
        if not isinstance(purpose, str | None):
            raise InvalidRequest("Invalid type for 'purpose': expected a string.", param="purpose", code="invalid_type")
        created = await engine(request).files.create(who, upload.filename or "file", purpose, file_chunks(upload),
                                                    expires_after, flavour)
    finally:
        await form.close()
    return answer(request, created)


def _expires_after(form: Any) -> dict[str, Any] | None:
    """`expires_after` as the SDK's bracket fields (`expires_after[anchor]`), or as one JSON part."""
    if "expires_after[anchor]" in form or "expires_after[seconds]" in form:
        return {"anchor": form.get("expires_after[anchor]"), "seconds": form.get("expires_after[seconds]")}
    raw = form.get("expires_after")
    if raw is None:
        return None
    try:
        value = json.loads(raw if isinstance(raw, str) else "")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise invalid_type("expires_after", "an object", raw)
    return value


@OPENAI.handles("files.list")
async def list_files(request: Request) -> Response:
    who = tenant(request)
    limit = int_param(request, "limit", 10_000, 1, 10_000)
    order = choice_param(request, "order", "desc", ["asc", "desc"])
    return json_response(await engine(request).files.list(
        who, request.query_params.get("purpose") or None, request.query_params.get("after") or None, limit, order))


@OPENAI.handles("files.retrieve")
async def retrieve_file(request: Request) -> Response:
    return json_response(await engine(request).files.retrieve(tenant(request), request.path_params["file_id"]))


@OPENAI.handles("files.delete")
async def delete_file(request: Request) -> Response:
    return json_response(await engine(request).files.delete(tenant(request), request.path_params["file_id"]))


@OPENAI.handles("files.content")
async def file_content(request: Request) -> Response:
    file, chunks = await engine(request).files.content(tenant(request), request.path_params["file_id"])
    headers = {"content-disposition": _disposition(file["filename"]), "content-length": str(file["bytes"])}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


def _disposition(filename: str) -> str:
    """`attachment; filename="..."`; a name a header cannot carry as is also goes in `filename*` (RFC 6266)."""
    plain = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in filename)
    if plain == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"

