"""/_mockbatch: the control plane tests drive the mock with. Never behind auth."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockbatch import __version__
from mockbatch.api.render import engine, json_body, json_response
from mockbatch.errors import InvalidRequest


async def health(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


async def reset(request: Request) -> Response:
    await engine(request).reset()
    return json_response({"status": "ok"})


async def clock(request: Request) -> Response:
    c = engine(request).clock
    return json_response({"mode": c.mode, "now": c.now()})


async def advance(request: Request) -> Response:
    body = await json_body(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
        raise InvalidRequest("'seconds' must be a number of seconds, zero or more.", param="seconds")
    e = engine(request)
    now = await e.advance(float(seconds))
    return json_response({"mode": e.clock.mode, "now": now})


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/reset", reset, methods=["POST"]),
    Route("/clock", clock, methods=["GET"]),
    Route("/clock/advance", advance, methods=["POST"]),
]
