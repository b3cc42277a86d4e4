"""/v1/messages/batches: Anthropic's Message Batches (create, list, retrieve, cancel, delete, results), answered as the
official `anthropic` SDK expects; errors in Anthropic's envelope (the surface's style: render.error_body)."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockbatch.api.render import SCENARIO_HEADER, answer, api_key, engine, json_response
from mockbatch.api.routing import ANTHROPIC
from mockbatch.engine.messages import MAX_BYTES, request_too_large
from mockbatch.errors import InvalidRequest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _constant(text: str) -> float:
    raise ValueError(text)  # NaN and Infinity are not JSON


async def _body(request: Request) -> dict[str, Any]:
    """The JSON body, up to Anthropic's 256 MB (a 413 past it, before it is all read when the length is declared)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise request_too_large()
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BYTES:
            raise request_too_large()
    try:
        data = json.loads(raw, parse_float=_finite, parse_constant=_constant) if raw.strip() else None
    except (ValueError, RecursionError):
        raise InvalidRequest("There was an issue with your request body: it is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("Input should be a valid dictionary")
    return data


def _absolute(request: Request, batch: dict[str, Any]) -> dict[str, Any]:
    """`results_url` from the request's own base URL (the server's address as the client reached it)."""
    if batch["results_url"]:
        batch["results_url"] = str(request.base_url).rstrip("/") + batch["results_url"]
    return batch


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return 20
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest("limit: Input should be a valid integer, unable to parse string as an integer") from None
    if value < 1:
        raise InvalidRequest("limit: Input should be greater than or equal to 1")
    if value > 1000:
        raise InvalidRequest("limit: Input should be less than or equal to 1000")
    return value


@ANTHROPIC.handles("messages.batches.create")
async def create(request: Request) -> Response:
    key = api_key(request)
    batch = await engine(request).messages.create(key, await _body(request), request.headers.get(SCENARIO_HEADER))
    return answer(request, _absolute(request, batch))


@ANTHROPIC.handles("messages.batches.list")
async def list_batches(request: Request) -> Response:
    key = api_key(request)
    q = request.query_params
    stale = float(request.scope.get("mockbatch.stale", 0.0))  # set by a scenario's stale_list fault
    page = await engine(request).messages.list(key, q.get("before_id") or None, q.get("after_id") or None,
                                               _limit(request), stale)
    for batch in page["data"]:
        _absolute(request, batch)
    return json_response(page)


@ANTHROPIC.handles("messages.batches.retrieve")
async def retrieve(request: Request) -> Response:
    batch = await engine(request).messages.retrieve(api_key(request), request.path_params["batch_id"])
    return answer(request, _absolute(request, batch))


@ANTHROPIC.handles("messages.batches.cancel")
async def cancel(request: Request) -> Response:
    batch = await engine(request).messages.cancel(api_key(request), request.path_params["batch_id"])
    return answer(request, _absolute(request, batch))


@ANTHROPIC.handles("messages.batches.delete")
async def delete(request: Request) -> Response:
    return json_response(await engine(request).messages.delete(api_key(request), request.path_params["batch_id"]))


@ANTHROPIC.handles("messages.batches.results")
async def results(request: Request) -> Response:
    lines = await engine(request).messages.results(api_key(request), request.path_params["batch_id"])
    return StreamingResponse(lines, media_type="application/x-jsonl")
