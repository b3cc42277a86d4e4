"""A webhook endpoint for tests: a real HTTP server on a free port, in a daemon thread, that records every request
and answers with the statuses the test scripts, so that deliveries, retries, timeouts and signatures can be checked
end to end. Stdlib only, so importing it costs a suite nothing."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    """One request as the receiver saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased; a repeated header's values joined with ", "
    body: bytes
    status: int  # what the receiver answered (or meant to, if the client gave up during a delay)
    received_at: float  # time.time() once its whole body had arrived

    def json(self) -> Any:
        """The body parsed; raises on a malformed one, which is itself worth failing a test over."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True  # a handler still sleeping out a delay does not hold up stop()
    receiver: WebhookReceiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (the sender's timeout) is expected, not an error; anything else still prints.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # a client that stalls mid-request frees its thread eventually

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        receiver = self.server.receiver
        status, pause = receiver._record(self.command, self.path, headers, body)
        if pause:
            receiver._stopped.wait(pause)  # stop() cuts a delay short rather than waiting it out
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

    def log_message(self, format: str, *args: Any) -> None:  # quiet: `deliveries` is the log
        pass


def _describe(delivery: Delivery) -> str:
    try:
        kind = delivery.json().get("type", "?")
    except (ValueError, AttributeError):
        kind = f"{delivery.method} {delivery.path}"
    return f"{delivery.headers.get('webhook-id', '?')} ({kind})"


class WebhookReceiver:
    """An HTTP endpoint on a free port that records every request and answers as the test says."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._changed = threading.Condition()  # guards everything below; notified on each delivery
        self._deliveries: list[Delivery] = []
        self._script: deque[int] = deque()
        self._then = 200
        self._delay = 0.0
        self._delay_left: int | None = 0  # None: every request

    def start(self) -> WebhookReceiver:
        if self._server is None:
            self._stopped.clear()
            self._server = _Server(self._address, _Handler)
            self._server.receiver = self
            # A short poll interval, so that stop() returns at once rather than after up to 0.5 s.
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="webhook-receiver", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopped.set()
        server.shutdown()
        server.server_close()
        assert self._thread is not None
        self._thread.join()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The URL to register; any other path on the same host and port is accepted and recorded too."""
        if self._server is None:
            raise RuntimeError("the webhook receiver is not running: call start() first")
        return f"http://{self._address[0]}:{self._server.server_address[1]}/webhook"

    def respond(self, *statuses: int, then: int = 200) -> None:
        """Answer the next requests with `statuses` in order, and every later one with `then`."""
        with self._changed:
            self._script, self._then = deque(statuses), then

    def delay(self, seconds: float, times: int | None = None) -> None:
        """Answer the next `times` requests (None: all) only after `seconds`, to make a sender time out.
        Each request has its own thread, so a delayed one holds up no other."""
        with self._changed:
            self._delay, self._delay_left = seconds, times

    @property
    def deliveries(self) -> list[Delivery]:
        with self._changed:
            return list(self._deliveries)

    def wait(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """All deliveries once there are at least `count` of them; an AssertionError after `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._deliveries) >= count, timeout):
                got = "".join(f"\n  {_describe(d)}" for d in self._deliveries)
                raise AssertionError(f"expected {count} webhook deliveries within {timeout} s, "
                                     f"{len(self._deliveries)} arrived{':' if got else ''}{got}")
            return list(self._deliveries)

    def clear(self) -> None:
        """Forget the recorded deliveries; the response script and delay are kept."""
        with self._changed:
            self._deliveries.clear()

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, float]:
        """Record a request whose body has been read; return the status to answer and how long to wait first."""
        with self._changed:
            status = self._script.popleft() if self._script else self._then
            pause = 0.0
            if self._delay_left is None or self._delay_left > 0:
                pause = self._delay
                if self._delay_left:
                    self._delay_left -= 1
            self._deliveries.append(Delivery(method, path, headers, body, status, time.time()))
            self._changed.notify_all()
        return status, pause
