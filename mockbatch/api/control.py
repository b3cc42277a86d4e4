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
from starlette.routing import Route

from mockbatch import __version__
from mockbatch.api.render import engine, json_body, json_response, tenant
from mockbatch.errors import InvalidRequest
from mockbatch.lifecycle import Status
from mockbatch.scenarios import Scenario, quoted

STATUSES = [s.value for s in Status]


def keyed(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(endpoint)  # keeps the route's name
    async def guarded(request: Request) -> Response:
        if request.state.settings.api_keys:
            tenant(request)  # 401 unless it is one of the keys
        return await endpoint(request)

    return guarded


async def health(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


async def reset(request: Request) -> Response:
    await engine(request).reset()
    return json_response({"status": "ok"})


async def clock(request: Request) -> Response:
    c = engine(request).clock
    return json_response({"mode": c.mode, "now": c.now()})


LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z


async def advance(request: Request) -> Response:
    body = await json_body(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
        raise InvalidRequest("'seconds' must be a number of seconds, zero or more.", param="seconds")
    e = engine(request)
    if seconds > LATEST - e.clock.now():  # past it, timestamps are no longer dates (and floats run out)
        raise InvalidRequest("'seconds' would take the clock past the year 9999.", param="seconds")
    now = await e.advance(float(seconds))
    return json_response({"mode": e.clock.mode, "now": now})


def _scenario(s: Scenario) -> dict[str, str]:
    return {"name": s.name, "description": s.description}


async def list_scenarios(request: Request) -> Response:
    book = engine(request).scenarios
    return json_response({"data": [{**_scenario(s), "source": s.source} for s in book.scenarios.values()]})


async def get_scenario(request: Request) -> Response:
    return json_response(_scenario(engine(request).scenario))


async def put_scenario(request: Request) -> Response:
    name = (await json_body(request)).get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("'name' must be the name of a scenario.", param="name")
    engine(request).scenarios.check_name(name, param="name")
    return json_response(_scenario(engine(request).use_scenario(name)))


async def transition(request: Request) -> Response:
    to = (await json_body(request)).get("to")
    if not isinstance(to, str):
        raise InvalidRequest("'to' must be a batch status.", param="to")
    if to not in STATUSES:  # said here, as the engine would, but with `to` quoted so the answer always encodes
        raise InvalidRequest(f"Unknown status {quoted(to)}; expected one of: {', '.join(STATUSES)}.", param="to")
    return json_response(await engine(request).transition(request.path_params["batch_id"], to))


async def requests(request: Request) -> Response:
    return json_response({"data": [e.to_dict() for e in engine(request).traffic.journal]})


async def clear_requests(request: Request) -> Response:
    engine(request).traffic.journal.clear()
    return json_response({"data": []})


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/reset", keyed(reset), methods=["POST"]),
    Route("/clock", keyed(clock), methods=["GET"]),
    Route("/clock/advance", keyed(advance), methods=["POST"]),
    Route("/scenarios", keyed(list_scenarios), methods=["GET"]),
    Route("/scenario", keyed(get_scenario), methods=["GET"]),
    Route("/scenario", keyed(put_scenario), methods=["PUT"]),
    Route("/batches/{batch_id}/transition", keyed(transition), methods=["POST"]),
    Route("/requests", keyed(requests), methods=["GET"]),
    Route("/requests", keyed(clear_requests), methods=["DELETE"]),
]
