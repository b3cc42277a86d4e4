"""/v1/batches: create, list, retrieve, cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockbatch.api.render import answer, engine, int_param, json_body, json_response, tenant


async def create_batch(request: Request) -> Response:
    who = tenant(request)
    scenario = request.headers.get("x-mockbatch-scenario")
    return answer(request, await engine(request).create_batch(who, await json_body(request), scenario))


async def list_batches(request: Request) -> Response:
    who = tenant(request)
    limit = int_param(request, "limit", 20, 1, 100)
    stale = float(request.scope.get("mockbatch.stale", 0.0))  # set by a scenario's stale_list fault
    return json_response(await engine(request).list_batches(who, request.query_params.get("after") or None, limit,
                                                            stale))


async def retrieve_batch(request: Request) -> Response:
    return answer(request, await engine(request).get_batch(tenant(request), request.path_params["batch_id"]))


async def cancel_batch(request: Request) -> Response:
    return answer(request, await engine(request).cancel_batch(tenant(request), request.path_params["batch_id"]))


routes = [
    Route("/batches", create_batch, methods=["POST"]),
    Route("/batches", list_batches, methods=["GET"]),
    Route("/batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route("/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
]
