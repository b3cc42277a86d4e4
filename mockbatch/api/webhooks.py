"""/v1/webhook_endpoints and /v1/webhook_event_types: the endpoints batch events are delivered to."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mockbatch.api.render import engine, int_param, json_body, json_response, tenant
from mockbatch.api.routing import OPENAI
from mockbatch.events import EVENT_TYPES


def _id(request: Request) -> str:
    return str(request.path_params["webhook_endpoint_id"])


@OPENAI.handles("webhooks.create")
async def create(request: Request) -> Response:
    who = tenant(request)
    return json_response(await engine(request).webhooks.create(who, await json_body(request)))


@OPENAI.handles("webhooks.list")
async def list_endpoints(request: Request) -> Response:
    who = tenant(request)
    limit = int_param(request, "limit", 20, 1, 100)
    after = request.query_params.get("after") or None
    return json_response(await engine(request).webhooks.list(who, after, limit))


@OPENAI.handles("webhooks.retrieve")
async def retrieve(request: Request) -> Response:
    return json_response(await engine(request).webhooks.retrieve(tenant(request), _id(request)))


@OPENAI.handles("webhooks.update")
async def update(request: Request) -> Response:
    who = tenant(request)
    return json_response(await engine(request).webhooks.update(who, _id(request), await json_body(request)))


@OPENAI.handles("webhooks.delete")
async def delete(request: Request) -> Response:
    return json_response(await engine(request).webhooks.delete(tenant(request), _id(request)))


@OPENAI.handles("webhooks.rotate_secret")
async def rotate_secret(request: Request) -> Response:
    who = tenant(request)
    return json_response(await engine(request).webhooks.rotate_secret(who, _id(request), await json_body(request)))


@OPENAI.handles("webhooks.test")
async def test(request: Request) -> Response:
    who = tenant(request)
    return json_response(await engine(request).webhooks.test(who, _id(request), await json_body(request)))


@OPENAI.handles("webhooks.event_types.list")
async def event_types(request: Request) -> Response:
    tenant(request)  # 401 without a key, as every /v1 call
    return json_response({"object": "list", "data": list(EVENT_TYPES)})
