"""/v1/batches: create, list, retrieve, cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mockbatch.api.render import SCENARIO_HEADER, answer, engine, int_param, json_body, json_response, tenant
from mockbatch.api.routing import OPENAI


@OPENAI.handles("batches.create")
async def create_batch(request: Request, flavour: str = "openai") -> Response:
    """POST /batches, through the surface of `flavour` (plan.FLAVOURS: its rules, frozen onto the batch)."""
    who = tenant(request)
    scenario = request.headers.get(SCENARIO_HEADER)
    return answer(request, await engine(request).batches.create(who, await json_body(request), scenario, flavour))


@OPENAI.handles("batches.list")
async def list_batches(request: Request) -> Response:
    who = tenant(request)
    limit = int_param(request, "limit", 20, 1, 100)
    stale = float(request.scope.get("mockbatch.stale", 0.0))  # set by a scenario's stale_list fault
    return json_response(await engine(request).batches.list(who, request.query_params.get("after") or None, limit,
                                                            stale))


@OPENAI.handles("batches.retrieve")
async def retrieve_batch(request: Request) -> Response:
    return answer(request, await engine(request).batches.retrieve(tenant(request), request.path_params["batch_id"]))


@OPENAI.handles("batches.cancel")
async def cancel_batch(request: Request) -> Response:
    return answer(request, await engine(request).batches.cancel(tenant(request), request.path_params["batch_id"]))

