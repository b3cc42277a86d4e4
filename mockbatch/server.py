"""Running the app: `serve()` in the foreground for the CLI and the image, and `MockBatchServer`, an
in-process server in a daemon thread for test suites."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import uvicorn

from mockbatch.api.render import LOGGED
from mockbatch.app import create_app
from mockbatch.settings import Settings

STARTUP_FAILURE = 3

log = logging.getLogger("mockbatch")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted sockets only then (else every answer
    # written in two parts waits out a delayed ACK, ~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings) -> None:
    """Serve in the foreground until interrupted; an unusable address is a one-line error."""
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(f"mockbatch: error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    port = sock.getsockname()[1]
    print(f"mockbatch listening on http://{settings.host}:{port} (clock={settings.clock}, seed={settings.seed}, "
          f"db={settings.db or 'temporary'})", flush=True)
    if settings.webhook_url:
        print(f"mockbatch sends batch events to {settings.webhook_url}, signed with {settings.signing_secret}",
              flush=True)
    config = uvicorn.Config(_Watch(create_app(settings)), lifespan="on", log_level="warning",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


# The server is local: a proxy from the environment (HTTP_PROXY without NO_PROXY) must not be used to reach it.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerError(RuntimeError):
    """Something failed inside the in-process server (a bug in mockbatch, or a failed start)."""


class ControlError(RuntimeError):
    """The control plane refused a call; carries the OpenAI-style error fields."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message, self.param, self.code = status, message, param, code


class _Watch:
    """Plain ASGI wrapper that sees every exception leaving the app.

    A request that failed after its answer was sent whole (Starlette re-raises after sending the 500)
    is logged here and goes no further, so the server keeps the connection instead of cutting it under
    a client that may be reusing it. A failure mid-answer still propagates: the connection must close.
    In the in-process server, each failure is also handed to `record`, and a lifespan failure to
    `lifespan`, so a failed start can say why.
    """

    def __init__(self, app: Any, record: Any = None, lifespan: Any = None) -> None:
        self.app = app
        self.record = record
        self.lifespan = lifespan

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            try:
                await self.app(scope, receive, send)
            except Exception as exc:
                if scope["type"] == "lifespan" and self.lifespan is not None:
                    self.lifespan(exc)
                raise
            return
        complete = False

        async def watch(message: Any) -> None:
            nonlocal complete
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if self.record is not None:
                self.record(exc)
            if not complete:
                raise
            if scope.get(LOGGED) is not exc:  # else logged already, before its 500 was sent
                log.error("Exception in ASGI application after the response was sent", exc_info=exc)


def server_settings(**settings: Any) -> Settings:
    """Settings as MockBatchServer (and the pytest plugin) take them: the CLI's, on a free port by default."""
    return Settings(**{"port": 0, **settings})


class MockBatchServer:
    """An in-process mockbatch for tests: `with MockBatchServer(clock="manual") as mb: ...`.

    Takes the CLI's settings as keyword arguments of the same names and binds a free port unless told
    otherwise. Unexpected server-side exceptions are raised in the caller by `check()`, which every
    control call and `stop()` run.
    """

    def __init__(self, *, startup_timeout: float = 10.0, **settings: Any) -> None:
        self.settings = server_settings(**settings)
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self._lock = threading.Lock()
        self._pending: list[BaseException] = []  # seen by _Watch but not by the app's own handler
        self._reported: list[BaseException] = []  # raised already; the same object is never raised twice
        self._lifespan_error: BaseException | None = None
        self._thread_error: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> MockBatchServer:
        if self._thread is not None:
            return self
        sock = bind(self.settings.host, self.settings.port)
        self.port = sock.getsockname()[1]
        self._app = create_app(self.settings)
        config = uvicorn.Config(_Watch(self._app, self._record, self._failed_lifespan), lifespan="on",
                                log_config=None, log_level="warning", timeout_graceful_shutdown=1)
        server = self._server = uvicorn.Server(config)

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except SystemExit:  # uvicorn's way of saying the start failed; the cause is in _lifespan_error
                pass
            except BaseException as exc:
                self._thread_error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"mockbatch-server-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not self._thread.is_alive():
                self._server = self._thread = None
                cause = self._lifespan_error or self._thread_error
                self._lifespan_error = self._thread_error = None
                detail = f": {cause!r}" if cause else ""
                raise ServerError(f"mockbatch failed to start{detail}") from cause
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"mockbatch did not start within {self.startup_timeout} s")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent), then raise any server-side failure not yet reported."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(10)
            if thread.is_alive():
                server.force_exit = True
                thread.join(5)
            self._server = self._thread = None
        if self._lifespan_error is not None:
            self._record(self._lifespan_error)
            self._lifespan_error = None
        self.check()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> MockBatchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Ready for `openai.OpenAI(base_url=...)`."""
        return self.url + "/v1"

    @property
    def api_key(self) -> str:
        """A bearer token the server accepts: the first configured key, else any token will do."""
        return self.settings.api_keys[0] if self.settings.api_keys else "sk-mockbatch"

    # -- control plane ------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call /_mockbatch<path>; a refusal raises ControlError, a server-side failure ServerError."""
        if self._thread is None:
            raise ServerError("mockbatch is not running; call start() or use it as a context manager")
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json", "authorization": f"Bearer {self.api_key}"}  # for --api-key
        req = urllib.request.Request(self.url + "/_mockbatch" + path, data=data, method=method, headers=headers)
        try:
            with _DIRECT.open(req, timeout=60) as resp:
                answer = json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            self.check()
            raw = exc.read()
            try:
                err = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                err = {"message": raw.decode(errors="replace") or exc.reason}
            raise ControlError(exc.code, err.get("message"), err.get("param"), err.get("code")) from None
        self.check()
        return answer

    def health(self) -> dict[str, Any]:
        return self.control("GET", "/health")  # type: ignore[no-any-return]

    def advance(self, seconds: float) -> float:
        """Move the virtual clock on; returns the new virtual time once every batch has caught up."""
        return float(self.control("POST", "/clock/advance", {"seconds": seconds})["now"])

    def now(self) -> float:
        """The server's virtual time (unix seconds)."""
        return float(self.control("GET", "/clock")["now"])

    def reset(self) -> None:
        """Forget every file, batch and journal entry; the clock goes back to its start and the scenario
        to the configured one."""
        self.control("POST", "/reset")

    def use_scenario(self, name: str) -> None:
        """Switch the scenario that scripts the server's behaviour."""
        self.control("PUT", "/scenario", {"name": name})

    def requests(self) -> list[dict[str, Any]]:
        """The journal of API requests the server has received."""
        return list(self.control("GET", "/requests")["data"])

    def deliveries(self) -> list[dict[str, Any]]:
        """The webhook delivery log: each event sent to each endpoint, its attempts (virtual time, status, error)
        and its next one (`advance()` returns once the due ones have been attempted)."""
        return list(self.control("GET", "/webhooks")["data"])

    @property
    def webhook_secret(self) -> str:
        """What deliveries to the `webhook_url` endpoint are signed with (given, or derived from the seed)."""
        return self.settings.signing_secret

    # -- failures -----------------------------------------------------------------------------
    def _failed_lifespan(self, exc: BaseException) -> None:
        self._lifespan_error = exc

    def _failures(self) -> list[BaseException]:
        failures = getattr(getattr(self._app, "state", None), "failures", None)
        return failures if failures is not None else []

    def _record(self, exc: BaseException) -> None:
        with self._lock:
            if not any(exc is seen for seen in (*self._reported, *self._failures(), *self._pending)):
                self._pending.append(exc)

    def check(self) -> None:
        """Raise the unexpected server-side exceptions since the last check (chained to the first)."""
        with self._lock:
            failures = self._failures()
            found = failures[:]
            del failures[:len(found)]  # the server thread only ever appends
            found += self._pending
            self._pending.clear()
            self._reported += found
        if found:
            more = f" (and {len(found) - 1} more: {', '.join(repr(e) for e in found[1:])})" if len(found) > 1 else ""
            raise ServerError(f"mockbatch server error: {found[0]!r}{more}") from found[0]
