"""/_mockbatch: the control plane tests drive the mock with.

Open by default, as the server is local; with --api-key set, every call but the health check (the
container's probe) wants one of the keys too, and a bad one gets the same 401 as on /v1.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from mockbatch import __version__
from mockbatch.api.render import engine, json_body, json_response, tenant
from mockbatch.api.routing import CONTROL
from mockbatch.clock import LATEST
from mockbatch.errors import InvalidRequest
from mockbatch.scenarios import Scenario


def keyed(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(endpoint)  # keeps the route's name
    async def guarded(request: Request) -> Response:
        if request.state.settings.api_keys:
            tenant(request)  # 401 unless it is one of the keys
        return await endpoint(request)

    return guarded


@CONTROL.handles("control.health")
async def health(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


@CONTROL.handles("control.reset")
@keyed
async def reset(request: Request) -> Response:
    await engine(request).control.reset()
    return json_response({"status": "ok"})


@CONTROL.handles("control.clock")
@keyed
async def clock(request: Request) -> Response:
    c = engine(request).clock
    return json_response({"mode": c.mode, "now": c.now()})


@CONTROL.handles("control.clock.advance")
@keyed
async def advance(request: Request) -> Response:
    body = await json_body(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
        raise InvalidRequest("'seconds' must be a number of seconds, zero or more.", param="seconds")
    e = engine(request)
    if seconds > LATEST - e.clock.now():  # past it, timestamps are no longer dates (and floats run out)
        raise InvalidRequest("'seconds' would take the clock past the year 9999.", param="seconds")
    now = await e.control.advance(float(seconds))
    return json_response({"mode": e.clock.mode, "now": now})


def _scenario(s: Scenario) -> dict[str, str]:
    return {"name": s.name, "description": s.description}


@CONTROL.handles("control.scenarios.list")
@keyed
async def list_scenarios(request: Request) -> Response:
    book = engine(request).active.book
    return json_response({"data": [{**_scenario(s), "source": s.source} for s in book.scenarios.values()]})


@CONTROL.handles("control.scenario.retrieve")
@keyed
async def get_scenario(request: Request) -> Response:
    return json_response(_scenario(engine(request).active.current))


@CONTROL.handles("control.scenario.update")
@keyed
async def put_scenario(request: Request) -> Response:
    name = (await json_body(request)).get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("'name' must be the name of a scenario.", param="name")
    return json_response(_scenario(engine(request).control.use_scenario(name)))


@CONTROL.handles("control.batches.transition")
@keyed
async def transition(request: Request) -> Response:
    to = (await json_body(request)).get("to")
    if not isinstance(to, str):
        raise InvalidRequest("'to' must be a batch status.", param="to")
    return json_response(await engine(request).control.transition(request.path_params["batch_id"], to))


@CONTROL.handles("control.requests.list")
@keyed
async def requests(request: Request) -> Response:
    return json_response({"data": [e.to_dict() for e in engine(request).traffic.journal]})


@CONTROL.handles("control.requests.clear")
@keyed
async def clear_requests(request: Request) -> Response:
    engine(request).traffic.journal.clear()
    return json_response({"data": []})


@CONTROL.handles("control.webhooks.list")
@keyed
async def webhooks(request: Request) -> Response:
    return json_response({"data": await engine(request).deliveries.log()})
