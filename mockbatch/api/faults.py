"""Plain ASGI middleware in front of the journaled surfaces (/v1, /openai): records every request in the journal and
applies the scripted API faults of the scenario in force (the X-Mockbatch-Scenario header's, else the server's).

It runs before routing, so a request is named by `traffic.operation` over its raw path."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockbatch.api.render import (
    ANSWER,
    AZURE_TENANT,
    SCENARIO_HEADER,
    error_body,
    error_style,
    presented_key,
    scripted_error,
)
from mockbatch.errors import MockBatchError
from mockbatch.operations import SURFACES
from mockbatch.scenarios import Fault
from mockbatch.traffic import Entry, operation

JOURNALED = tuple(surface.prefix + "/" for surface in SURFACES if surface.journaled)  # "/v1/", "/openai/"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def transport_of(receive: Receive) -> asyncio.Transport:
    """The connection's asyncio transport, which ASGI does not expose: the only way to drop a connection
    mid-answer (the reset and truncate faults). It leans on a uvicorn internal, `receive` being a bound method of
    its per-request cycle (h11 and httptools alike), which keeps the transport as `.transport`;
    tests/test_operations.py fails loudly if that changes."""
    found = getattr(getattr(receive, "__self__", None), "transport", None)
    if found is None:
        raise ConnectionResetError("cannot reach the transport to reset the connection")
    return found


def _abort(receive: Receive) -> None:
    """Drop the connection with a TCP reset."""
    transport = transport_of(receive)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    pairs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": raw})


class Faults:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(JOURNALED):
            await self.app(scope, receive, send)
            return
        engine = scope["state"]["engine"]
        method, path = scope["method"], scope["path"]
        op, path_ids = operation(method, path)
        style = error_style(path)
        token = presented_key(Headers(scope=scope), style)  # the tenant, as the handler will read it
        retry = _header(scope, b"x-stainless-retry-count")
        entry = Entry(engine.clock.now(), token or None, method, path, op, None,  # the entry keeps it masked
                      int(retry) if retry and retry.isdigit() else None, None, path_ids.get("batch_id"),
                      path_ids.get("file_id"))
        engine.traffic.journal.append(entry)
        try:
            scenario = engine.active.pick(None, _header(scope, SCENARIO_HEADER.encode()))
        except MockBatchError as exc:
            entry.status = exc.status
            await _json(send, exc.status, error_body(path, exc.status, exc.message, exc.param, exc.code, exc.type))
            return
        fault = engine.traffic.pick(scenario, op, method, path)
        entry.fault = fault.name if fault else None

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        if fault is None:
            await self.app(scope, receive, recording_send)
        else:
            await self._apply(fault, engine, scope, receive, recording_send)
        body = scope.get(ANSWER)  # the file or batch object answered, if any
        if body is None or entry.status != 200:
            return
        if body.get("type") == "message_batch":  # Anthropic's
            entry.batch_id = body["id"]
        elif body.get("object") == "batch":
            entry.batch_id, entry.file_id = body["id"], entry.file_id or body["input_file_id"]
        elif body.get("object") == "file":
            entry.file_id = body["id"]
            if fault is not None and fault.effect == "invisible_file" and op == "files.create":
                engine.files.hide(AZURE_TENANT + token if style == "azure" else token, body["id"], fault.seconds)

    async def _apply(self, fault: Fault, engine: Any, scope: Scope, receive: Receive, send: Send) -> None:
        effect = fault.effect
        wait = engine.traffic.delay(fault)
        if wait:
            await asyncio.sleep(wait)
        if effect == "status":
            await _json(send, fault.status, *scripted_error(scope["path"], fault.status, fault.error,
                                                             engine.clock.now(), fault.headers))
        elif effect == "reset":
            _abort(receive)
        elif effect == "empty":
            await send({"type": "http.response.start", "status": fault.status,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"0"),
                                    *[(k.encode(), v.encode()) for k, v in fault.headers.items()]]})
            await send({"type": "http.response.body", "body": b""})
        elif effect == "malformed":
            raw = b'{"id": "batch_", "object": "batch", "status": '
            await send({"type": "http.response.start", "status": fault.status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(raw)).encode())]})
            await send({"type": "http.response.body", "body": raw})
        elif effect == "truncate":
            await self.app(scope, receive, _truncating(send, receive, fault.bytes))
        elif effect == "dribble":
            await self.app(scope, receive, _dribbling(send, fault.bytes, fault.interval))
        elif effect == "stale_list":
            scope["mockbatch.stale"] = fault.seconds
            await self.app(scope, receive, send)
        else:  # delay, invisible_file: the request itself goes through
            await self.app(scope, receive, send)


def _truncating(send: Send, receive: Receive, limit: int) -> Send:
    sent = 0
    cut = False

    async def wrapped(message: Message) -> None:
        nonlocal sent, cut
        if cut:
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        body = message.get("body", b"")
        if sent + len(body) >= limit:
            await send({"type": "http.response.body", "body": body[: limit - sent], "more_body": True})
            cut = True
            await asyncio.sleep(0.05)  # let the bytes leave before the reset
            _abort(receive)
            return
        sent += len(body)
        await send(message)

    return wrapped


def _dribbling(send: Send, size: int, interval: float) -> Send:
    """Each piece goes as its own ASGI message, which uvicorn writes to the socket at once (no transport reached;
    tests/test_scenarios.py's dribble test times the pieces)."""

    async def wrapped(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        body, more = message.get("body", b""), message.get("more_body", False)
        for start in range(0, len(body), size):
            piece = body[start:start + size]
            last = start + size >= len(body)
            await send({"type": "http.response.body", "body": piece, "more_body": more or not last})
            if not last or more:
                await asyncio.sleep(interval)
        if not body:
            await send(message)

    return wrapped
