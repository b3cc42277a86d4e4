"""The test-side webhook receiver: it records what arrives, answers as scripted, delays without blocking other
requests, and stops promptly, so that webhook tests can trust it and look only at the sender."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from mockbatch.receiver import WebhookReceiver

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the receiver is local: no proxy


def send(url: str, body: bytes | None = b"{}", method: str = "POST", headers: dict[str, str] | None = None,
         timeout: float = 5.0) -> int:
    """The status a request got (an error status is returned, not raised)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=timeout) as response:
            assert response.read() == b""
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def test_it_records_method_path_headers_and_body_in_order(receiver: WebhookReceiver) -> None:
    before = time.time()
    event = {"type": "batch.completed", "data": {"id": "batch_1"}}
    headers = {"Webhook-Id": "wh_1", "Webhook-Timestamp": "1735689600", "Webhook-Signature": "v1,abc=",
               "Content-Type": "application/json"}
    assert send(receiver.url, json.dumps(event).encode(), headers=headers) == 200
    assert send(receiver.url.replace("/webhook", "/other?x=1"), "é".encode(), method="PUT") == 200
    assert send(receiver.url, None, method="GET") == 200  # no content-length at all: an empty body

    first, second, third = receiver.deliveries
    assert (first.method, first.path, first.status) == ("POST", "/webhook", 200)
    assert first.headers["webhook-id"] == "wh_1"
    assert first.headers["webhook-timestamp"] == "1735689600"
    assert first.headers["webhook-signature"] == "v1,abc="
    assert first.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in first.headers)
    assert first.json() == event
    assert before <= first.received_at <= second.received_at <= time.time()
    assert (second.method, second.path, second.body, second.text) == ("PUT", "/other?x=1", "é".encode(), "é")
    assert (third.method, third.body) == ("GET", b"")
    with pytest.raises(ValueError):
        second.json()


def test_it_answers_the_scripted_statuses_then_the_default(receiver: WebhookReceiver) -> None:
    receiver.respond(500, 500)
    assert [send(receiver.url) for _ in range(4)] == [500, 500, 200, 200]
    assert [d.status for d in receiver.deliveries] == [500, 500, 200, 200]


def test_it_can_answer_one_status_forever(receiver: WebhookReceiver) -> None:
    receiver.respond(then=503)
    assert [send(receiver.url) for _ in range(3)] == [503, 503, 503]
    assert [d.status for d in receiver.deliveries] == [503, 503, 503]


def test_a_delay_times_a_client_out_and_blocks_no_other_request(
        receiver: WebhookReceiver, capfd: pytest.CaptureFixture[str]) -> None:
    receiver.respond(503)
    receiver.delay(0.5, times=1)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        send(receiver.url, b'{"n": 1}', timeout=0.2)
    started = time.monotonic()
    assert send(receiver.url, b'{"n": 2}', timeout=0.2) == 200  # `times` used up: answered at once
    assert time.monotonic() - started < 0.2
    delayed, prompt = receiver.wait(2)
    assert (delayed.json(), delayed.status) == ({"n": 1}, 503)  # recorded with what it was to answer
    assert (prompt.json(), prompt.status) == ({"n": 2}, 200)
    time.sleep(0.5)  # the delayed answer goes to a client that has left
    assert capfd.readouterr().err == ""


def test_a_delay_without_times_holds_every_request_but_not_each_other(receiver: WebhookReceiver) -> None:
    receiver.delay(0.3)
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(send(receiver.url))) for _ in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200, 200]
    assert 0.3 <= time.monotonic() - started < 0.8  # in parallel, not one after another


def test_a_client_that_hangs_up_during_a_delay_prints_nothing(
        receiver: WebhookReceiver, capfd: pytest.CaptureFixture[str]) -> None:
    receiver.delay(0.2)
    port = int(receiver.url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        receiver.wait(1)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    time.sleep(0.5)
    assert receiver.deliveries[0].status == 200
    assert capfd.readouterr().err == ""


def test_wait_returns_as_soon_as_the_count_is_reached(receiver: WebhookReceiver) -> None:
    assert receiver.wait(0) == []
    later = threading.Timer(0.1, send, [receiver.url])
    started = time.monotonic()
    later.start()
    assert len(receiver.wait(1, timeout=5)) == 1
    assert time.monotonic() - started < 2
    later.join()


def test_wait_says_what_arrived_when_it_times_out(receiver: WebhookReceiver) -> None:
    send(receiver.url, b'{"type": "batch.completed"}', headers={"webhook-id": "wh_7"})
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"expected 3 webhook deliveries within 0.3 s, 1 arrived") as info:
        receiver.wait(3, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert "wh_7 (batch.completed)" in str(info.value)
    receiver.clear()
    with pytest.raises(AssertionError, match=r"expected 1 webhook deliveries within 0.3 s, 0 arrived$"):
        receiver.wait(1, timeout=0.3)


def test_clear_forgets_deliveries_but_keeps_the_script(receiver: WebhookReceiver) -> None:
    receiver.respond(then=503)
    send(receiver.url)
    receiver.clear()
    assert receiver.deliveries == []
    assert send(receiver.url) == 503
    assert [d.status for d in receiver.wait(1)] == [503]


def test_stop_is_prompt_idempotent_and_frees_the_port() -> None:
    receiver = WebhookReceiver().start()
    url = receiver.url
    port = int(url.split(":")[2].split("/")[0])
    receiver.delay(5)
    threading.Thread(target=send, args=[url], kwargs={"timeout": 0.2}, daemon=True).start()
    receiver.wait(1)
    started = time.monotonic()
    receiver.stop()
    receiver.stop()
    assert time.monotonic() - started < 1  # neither the serve loop nor the delayed request held it up
    with pytest.raises(urllib.error.URLError):
        send(url)
    with pytest.raises(RuntimeError, match="not running"):
        _ = receiver.url
    with WebhookReceiver(port=port) as again:
        assert again.url == url
        assert send(url) == 200


def test_the_pytest_fixture(mockbatch_webhook_receiver: WebhookReceiver) -> None:
    assert mockbatch_webhook_receiver.url.startswith("http://127.0.0.1:")
    assert send(mockbatch_webhook_receiver.url) == 200
    assert mockbatch_webhook_receiver.wait(1)[0].method == "POST"
