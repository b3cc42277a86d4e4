"""The operation tables (mockbatch.operations) are the one description of the HTTP surface: the routes, the
journal's names, the fault matcher, the names a scenario may give and /openapi.json all agree with them. And
each server internal the HTTP layer leans on still behaves as it does."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route

from mockbatch import operations, traffic
from mockbatch.api import faults, openapi, render
from mockbatch.api.openapi import DOCUMENT
from mockbatch.api.routing import HANDLERS, Handlers
from mockbatch.app import create_app
from mockbatch.operations import OPENAI, SURFACES, Operation, Surface
from mockbatch.scenarios import OPERATIONS, ScenarioError, parse

HEADERS = {"authorization": "Bearer sk-test"}


def concrete(surface: Surface, op: Operation, value: str = "x_1") -> str:
    """The operation's path with each parameter filled in."""
    path = surface.full_path(op)
    for name in op.params:
        path = path.replace("{" + name + "}", value)
    return path


def every_operation() -> list[tuple[Surface, Operation]]:
    return [(surface, op) for surface in SURFACES for op in surface.operations]


def walk(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, str, Any]]:
    """(method, full path, endpoint) of every route, Mounts included."""
    out: list[tuple[str, str, Any]] = []
    for route in routes:
        if isinstance(route, Mount):
            out += walk(route.routes, prefix + route.path)
        else:
            assert isinstance(route, Route), route
            out += [(method, prefix + route.path, route.endpoint) for method in route.methods or () if method != "HEAD"]
    return out


# -- routes ---------------------------------------------------------------------------------------
def test_every_route_has_an_operation_and_every_operation_a_route() -> None:
    routed = walk(create_app().routes)
    assert len(routed) == len(set((m, p) for m, p, _ in routed))
    declared = {(op.method, surface.full_path(op)): HANDLERS[surface.name].endpoints[op.name]
                for surface, op in every_operation()}
    assert {(m, p): endpoint for m, p, endpoint in routed} == declared


def test_batch_routes_are_tried_first() -> None:
    """Retrieving a batch is polled constantly: Starlette tries routes in order."""
    v1 = next(r for r in create_app().routes if isinstance(r, Mount) and r.path == OPENAI.prefix)
    first = [route.path for route in v1.routes[:4]]  # type: ignore[attr-defined]
    assert first == ["/batches", "/batches", "/batches/{batch_id}", "/batches/{batch_id}/cancel"]


def test_a_table_and_its_handlers_must_pair_up() -> None:
    surface = Surface("test", "/t", operations=(Operation("a.get", "GET", "/a", "getA", "A."),
                                               Operation("b.get", "GET", "/b/{b_id}", "getB", "B.")))
    handlers = Handlers(surface)
    with pytest.raises(KeyError, match=r"no operation 'c\.get'"):
        handlers.handles("c.get")
    handlers.handles("a.get")(render.json_response)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two handlers"):
        handlers.handles("a.get")(render.json_response)  # type: ignore[arg-type]
    with pytest.raises(LookupError, match=r"no handler for b\.get"):
        handlers.routes()


@pytest.mark.parametrize(("method", "path"), [("get", "/a"), ("GET", "a"), ("GET", "/a/{id:int}"), ("GET", "/a/{")])
def test_a_bad_declaration_is_refused(method: str, path: str) -> None:
    with pytest.raises(ValueError, match="bad method or path"):
        Operation("a.get", method, path, "getA", "A.")


def test_a_name_or_route_declared_twice_is_refused() -> None:
    a = Operation("a.get", "GET", "/a", "getA", "A.")
    with pytest.raises(ValueError, match="declared twice"):
        Surface("test", "/t", operations=(a, Operation("a.get", "POST", "/a", "postA", "A.")))
    with pytest.raises(ValueError, match="declared twice"):
        Surface("test", "/t", operations=(a, Operation("b.get", "GET", "/a", "getB", "B.")))


# -- the journal and the faults ---------------------------------------------------------------------
@pytest.mark.parametrize("slash", ["", "/"])
def test_the_journal_names_every_journaled_operation_by_its_raw_path(slash: str) -> None:
    for surface, op in every_operation():
        name, ids = traffic.operation(op.method, concrete(surface, op) + slash)
        if surface.journaled:
            assert (name, ids) == (op.name, dict.fromkeys(op.params, "x_1"))
        else:
            assert name is None


def test_the_journal_names_nothing_else() -> None:
    assert traffic.operation("PUT", "/v1/files") == (None, {})
    assert traffic.operation("GET", "/v1/files/a/b") == (None, {})
    assert traffic.operation("GET", "/v1/batches/") == ("batches.list", {})  # as before routing redirects it
    assert traffic.operation("GET", "/v1xbatches") == (None, {})  # literal parts are escaped


def test_every_operation_answers_and_the_journal_names_each_journaled_one(server) -> None:
    """Through a real server: no operation gets the router's 'Invalid URL', and each journaled one is in the
    journal by its name. Bodies are empty and ids unknown: each answers an error of its own, never a 5xx."""
    journaled = [(s, op) for s, op in every_operation() if s.journaled]
    others = [(s, op) for s, op in every_operation() if not s.journaled]
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        for surface, op in others + journaled:  # the control plane's reset and clear come before the journal
            answer = client.request(op.method, concrete(surface, op))
            assert answer.status_code < 500, (op.name, answer.text)
            if answer.status_code == 404:
                assert not answer.json()["error"]["message"].startswith("Invalid URL"), op.name
    names = [entry["operation"] for entry in server.requests()]
    assert names == [op.name for _, op in journaled]


# -- scenarios ---------------------------------------------------------------------------------------
def test_scenarios_accept_exactly_the_journaled_operations() -> None:
    # Azure's surfaces reuse OpenAI's names (a fault on batches.create hits both): each name once, in order.
    journaled = list(dict.fromkeys(op.name for surface in SURFACES if surface.journaled for op in surface.operations))
    assert list(OPERATIONS) == journaled == list(operations.journaled_names())
    for name in journaled:
        scenario = parse(f'description = "x"\n[[faults]]\noperation = "{name}"\n', "x", "x.toml")
        assert scenario.faults[0].operation == name
    for surface, op in every_operation():
        if not surface.journaled:
            with pytest.raises(ScenarioError, match="unknown operation"):
                parse(f'description = "x"\n[[faults]]\noperation = "{op.name}"\n', "x", "x.toml")


# -- OpenAPI -------------------------------------------------------------------------------------------
def test_the_openapi_document_has_exactly_the_documented_operations() -> None:
    described = {(path, method.upper(), spec["operationId"]) for path, item in DOCUMENT["paths"].items()
                 for method, spec in item.items() if method != "parameters"}
    declared = {(s.full_path(op), op.method, op.operation_id) for s, op in every_operation() if s.documented}
    assert described == declared
    for path, item in DOCUMENT["paths"].items():  # each path's parameters are its template's
        names = [p["name"] for p in item.get("parameters", [])]
        assert names == operations.PARAM.findall(path)


def test_an_operation_without_a_spec_or_a_spec_without_an_operation_is_refused() -> None:
    extra = Surface("extra", "/x", operations=(Operation("extra.get", "GET", "/e", "getExtra", "E."),))
    with pytest.raises(LookupError, match=r"extra\.get"):
        openapi.paths((*SURFACES, extra))
    with pytest.raises(LookupError, match=r"files\.create"):
        openapi.paths((operations.CONTROL,))


# -- the server internals leaned on ---------------------------------------------------------------------
def test_json_body_keeps_the_body_where_request_body_looks() -> None:
    """`render.keep_body` writes Starlette's private `Request._body`: if Starlette moves it, this fails."""
    sent = [{"type": "http.request", "body": b'{"a": ', "more_body": True}, {"type": "http.request", "body": b"1}"}]

    async def receive() -> dict[str, Any]:
        if not sent:
            raise AssertionError("the body was read from the connection twice")
        return sent.pop(0)

    async def run() -> tuple[dict[str, Any], bytes]:
        request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
        data = await render.json_body(request)
        return data, await request.body()

    assert asyncio.run(run()) == ({"a": 1}, b'{"a": 1}')


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_the_transport_is_reached_through_uvicorns_receive(http: str) -> None:
    """`faults.transport_of` reaches into uvicorn's request cycle (the reset and truncate faults need the
    connection's transport): under each of uvicorn's HTTP implementations, it must find one that can abort."""
    if http == "httptools":
        pytest.importorskip("httptools")
    found: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        transport = faults.transport_of(receive)
        found.append(transport)
        body = json.dumps({"socket": transport.get_extra_info("socket") is not None}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=http, lifespan="off", log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        answer = httpx.get(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=10)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert found, f"faults.transport_of found no transport under uvicorn ({http}): {answer.text}"
    assert answer.json() == {"socket": True} and callable(found[0].abort)


def test_without_a_transport_a_reset_says_why() -> None:
    async def receive() -> dict[str, Any]:  # a plain function: no uvicorn cycle behind it
        return {}

    with pytest.raises(ConnectionResetError, match="cannot reach the transport"):
        faults.transport_of(receive)
