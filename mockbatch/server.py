"""Running the app: `serve()` in the foreground for the CLI and the image, and `MockBatchServer`, an
in-process server in a daemon thread for test suites."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.request
from typing import Any

import uvicorn

from mockbatch.app import create_app
from mockbatch.settings import Settings

STARTUP_FAILURE = 3


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
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
    config = uvicorn.Config(create_app(settings), lifespan="on", log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class ServerError(RuntimeError):
    """Something failed inside the in-process server."""


class MockBatchServer:
    """An in-process mockbatch for tests: `with MockBatchServer(clock="manual") as mb: ...`.

    Takes the CLI's settings as keyword arguments of the same names; binds a free port unless told
    otherwise. Unexpected server-side exceptions are raised again by `check()` and on `stop()`.
    """

    def __init__(self, *, startup_timeout: float = 10.0, **settings: Any) -> None:
        settings.setdefault("port", 0)
        if "api_keys" in settings:
            settings["api_keys"] = tuple(settings["api_keys"])
        self.settings = Settings(**settings)
        self.startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self.port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> MockBatchServer:
        if self._thread is not None:
            return self
        sock = bind(self.settings.host, self.settings.port)
        self.port = sock.getsockname()[1]
        self._app = create_app(self.settings)
        config = uvicorn.Config(self._app, lifespan="on", log_config=None, log_level="warning",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="mockbatch-server")
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                sock.close()
                raise ServerError("mockbatch failed to start; see the log for the reason")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"mockbatch did not start within {self.startup_timeout} s")
            time.sleep(0.001)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(10)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(5)
        self._server = self._thread = None
        self.check()

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

    # -- control plane ------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_mockbatch" + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def advance(self, seconds: float) -> float:
        """Move the virtual clock on; returns once every batch has caught up."""
        return float(self.control("POST", "/clock/advance", {"seconds": seconds})["now"])

    def now(self) -> float:
        return float(self.control("GET", "/clock")["now"])

    def reset(self) -> None:
        self.control("POST", "/reset")

    def check(self) -> None:
        """Raise the first unexpected server-side exception since the last check."""
        failures = getattr(getattr(self._app, "state", None), "failures", None)
        if failures:
            first = failures[0]
            failures.clear()
            raise ServerError(f"mockbatch server error: {first!r}") from first
