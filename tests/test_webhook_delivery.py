"""Webhook deliveries end to end: a real server, the official `openai` SDK (`webhooks.unwrap`) and a real HTTP
receiver. What arrives when a batch ends (each event type, its body, headers and signature), where (subscriptions,
tenants, the configured endpoint), when (retries on the virtual clock, timeouts, restarts, a SIGKILL), without
holding anything up, and what each scenario fault does to it; the delivery log and the journal."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest
from openai.types.webhooks import (
    BatchCancelledWebhookEvent,
    BatchCompletedWebhookEvent,
    BatchExpiredWebhookEvent,
    BatchFailedWebhookEvent,
)

from mockbatch import events
from mockbatch.receiver import Delivery, WebhookReceiver
from mockbatch.server import MockBatchServer
from tests.helpers import chat_line, start_batch, verifies, webhook_signature
from tests.serving import ServeProcess, free_port

START = 1_735_689_600  # the plugin's virtual start (2025-01-01T00:00Z)
ONE_LINE = 2.5  # a one-line batch with the default timings: validating 1 s, its request 0.5 s, finalizing 1 s
BATCH_EVENTS = list(events.BATCH_EVENTS)
WEBHOOK_ID = re.compile(r"wh_[0-9a-f]{32}")
EVENT_ID = re.compile(r"evt_[0-9a-f]{32}")
SIGNATURE = re.compile(r"v1,[A-Za-z0-9+/]{43}=")  # base64 of an HMAC-SHA256
BODY_KEYS = ["object", "id", "type", "created_at", "data"]
LOG_KEYS = {"id", "event", "endpoint_id", "url", "tenant", "status", "test", "fault", "created_at", "attempts",
            "next_attempt_at"}  # README, "The delivery log"
OTHER_SECRET = "whsec_" + base64.b64encode(b"not the endpoint's secret, 32 b.").decode()
# By event type: the SDK's class for it, when (virtual seconds after its creation) end_batch's batch ends with it,
# and the batch's field that says when it ended.
EVENT_KINDS = {
    "batch.completed": (BatchCompletedWebhookEvent, ONE_LINE, "completed_at"),
    "batch.failed": (BatchFailedWebhookEvent, 1.0, "failed_at"),  # validation_failed: at the end of validating
    "batch.expired": (BatchExpiredWebhookEvent, 1.5, "expired_at"),  # expire_partial: after half of two lines
    "batch.cancelled": (BatchCancelledWebhookEvent, 1.0, "cancelled_at"),  # cancelled at once, cancelling 1 s
}

# Scenario files of our own, each with one webhook fault for every batch event (`under(name)` picks one per batch).
INLINE = {
    "wh_delay": 'name = "late"\neffect = "delay"\nseconds = 30',
    "wh_drop": 'name = "lost"\neffect = "drop"',
    "wh_stale": 'name = "stale"\neffect = "stale_timestamp"',
    "wh_malformed": 'name = "cut"\neffect = "malformed"',
    "wh_second_only": 'name = "second-only"\neffect = "drop"\nafter = 1\ntimes = 1',
    "wh_sometimes": 'name = "sometimes"\neffect = "duplicate"\nprobability = 0.5',
    "wh_failures_dropped": 'name = "failures-lost"\neffect = "drop"\nevent = "batch.failed"',
}


# -- helpers ----------------------------------------------------------------------------------------------------
_CLIENTS: list[Any] = []  # SDK clients, closed after each test


def sdk(server: MockBatchServer | ServeProcess, key: str = "sk-mockbatch") -> openai.OpenAI:
    base = server.base_url if isinstance(server, MockBatchServer) else server.url + "/v1"
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0,
                           http_client=openai.DefaultHttpxClient(trust_env=False))
    _CLIENTS.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def subscribe(client: openai.OpenAI, url: str, *event_types: str, name: str = "hook") -> Any:
    return client.webhooks.create(name=name, url=url, event_types=list(event_types or BATCH_EVENTS))  # type: ignore


def under(scenario: str) -> dict[str, Any]:
    """A batch created under `scenario` (its webhook faults follow it)."""
    return {"metadata": {"mockbatch_scenario": scenario}}


def one_line(client: openai.OpenAI, **kw: Any) -> str:
    return start_batch(client, [chat_line(0)], **kw).id


def unwrap(client: openai.OpenAI, d: Delivery, secret: str) -> Any:
    return client.webhooks.unwrap(d.body, d.headers, secret=secret)


def webhook_ids(deliveries: list[Delivery]) -> list[str]:
    return [d.headers["webhook-id"] for d in deliveries]


def batch_ids(deliveries: list[Delivery]) -> list[str]:
    return [d.json()["data"]["id"] for d in deliveries]


def sent(server: MockBatchServer) -> list[dict[str, Any]]:
    """The journal's delivery attempts."""
    return [e for e in server.requests() if e["operation"] == "webhooks.deliver"]


def attempts(entry: dict[str, Any]) -> list[tuple[float, int | None, str | None]]:
    return [(a["at"], a["status"], a["error"]) for a in entry["attempts"]]


def end_batch(client: openai.OpenAI, event_type: str) -> tuple[str, float]:
    """A batch that will end with `event_type` once the clock is `seconds` on; (its id, seconds)."""
    seconds = EVENT_KINDS[event_type][1]
    if event_type == "batch.completed":
        return one_line(client), seconds
    if event_type == "batch.failed":
        return one_line(client, **under("validation_failed")), seconds
    if event_type == "batch.expired":
        return start_batch(client, [chat_line(0), chat_line(1)], **under("expire_partial")).id, seconds
    batch_id = one_line(client)
    client.batches.cancel(batch_id)
    return batch_id, seconds


@pytest.fixture
def receiver(mockbatch_webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    return mockbatch_webhook_receiver


@pytest.fixture
def client(mockbatch_client: openai.OpenAI) -> openai.OpenAI:
    return mockbatch_client


@pytest.fixture
def second_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as other:
        yield other


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockBatchServer]:
    """One server for the module with the INLINE scenario files in its --scenarios-dir."""
    folder = tmp_path_factory.mktemp("scenarios")
    for name, fault in INLINE.items():
        event = "" if "event =" in fault else 'event = "batch.*"\n'
        (folder / f"{name}.toml").write_text(f'description = "{name}"\n\n[[webhook_faults]]\n{event}{fault}\n')
    with MockBatchServer(clock="manual", seed=0, start_time=START, scenarios_dir=str(folder)) as server:
        yield server


@pytest.fixture
def faulty(faulty_server: MockBatchServer) -> Iterator[MockBatchServer]:
    faulty_server.reset()
    yield faulty_server
    faulty_server.check()


# -- 1. every event type -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("event_type", BATCH_EVENTS)
def test_each_batch_event_arrives_signed_and_unwraps_into_its_sdk_class(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver, event_type: str) -> None:
    endpoint = subscribe(client, receiver.url)
    batch_id, seconds = end_batch(client, event_type)
    mockbatch.advance(seconds - 0.5)
    assert receiver.deliveries == [] and mockbatch.deliveries() == []  # not before the batch ends
    mockbatch.advance(0.5)
    batch = client.batches.retrieve(batch_id)
    cls, _, stamp = EVENT_KINDS[event_type]
    assert batch.status == event_type.removeprefix("batch.")
    ended_at = getattr(batch, stamp)
    assert ended_at == int(START + seconds)

    [d] = receiver.deliveries  # advance() returned once it had been attempted
    before = time.time()
    event = unwrap(client, d, endpoint.signing_secret)
    assert type(event) is cls
    assert (event.type, event.object, event.data.id, event.created_at) == (event_type, "event", batch_id, ended_at)
    assert EVENT_ID.fullmatch(event.id)
    assert list(d.json()) == BODY_KEYS
    assert d.json() == {"object": "event", "id": event.id, "type": event_type, "created_at": ended_at,
                        "data": {"id": batch_id}}
    assert (d.method, d.path, d.status) == ("POST", "/webhook", 200)
    assert WEBHOOK_ID.fullmatch(d.headers["webhook-id"])
    assert abs(int(d.headers["webhook-timestamp"]) - before) <= 5  # the wall clock, not the virtual one (2025)
    assert SIGNATURE.fullmatch(d.headers["webhook-signature"])
    assert d.headers["webhook-signature"] == webhook_signature(endpoint.signing_secret, d)
    assert d.headers["content-type"] == "application/json"
    assert d.headers["content-length"] == str(len(d.body))
    assert d.headers["user-agent"] == "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(client, d, OTHER_SECRET)

    [entry] = mockbatch.deliveries()
    assert entry["id"] == d.headers["webhook-id"] and entry["event"] == d.json()
    assert (entry["status"], entry["next_attempt_at"], entry["created_at"]) == ("delivered", None, START + seconds)
    assert attempts(entry) == [(START + seconds, 200, None)]


def test_a_batch_failed_by_a_manual_transition_sends_batch_failed(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url, "batch.failed")
    batch_id = one_line(client)
    mockbatch.advance(1)  # in_progress
    answer = mockbatch.control("POST", f"/batches/{batch_id}/transition", {"to": "failed"})
    assert answer["status"] == "failed"
    [d] = receiver.deliveries  # sent before the transition answered
    event = unwrap(client, d, endpoint.signing_secret)
    assert isinstance(event, BatchFailedWebhookEvent)
    assert event.data.id == batch_id and event.created_at == answer["failed_at"] == START + 1


@pytest.mark.mockbatch(cancelling_seconds=0)
def test_a_forced_move_that_ends_the_batch_answers_after_its_delivery_was_attempted(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    # README: advance() answers once every delivery due by then was attempted, "and so does a forced move". With
    # cancelling taking no time, a move to cancelling ends the batch there and then.
    subscribe(client, receiver.url, "batch.cancelled")
    receiver.delay(0.5)  # in flight for half a second: an answer that did not wait for it shows it pending
    batch_id = one_line(client)
    answer = mockbatch.control("POST", f"/batches/{batch_id}/transition", {"to": "cancelling"})
    assert answer["status"] == "cancelled"
    log = mockbatch.deliveries()
    assert [(e["event"]["data"]["id"], e["status"]) for e in log] == [(batch_id, "delivered")]


def _invalid_file(server: MockBatchServer, client: openai.OpenAI) -> str:
    f = client.files.create(file=("bad.jsonl", b'{"custom_id": "a"}\nnot json\n'), purpose="batch")
    return client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h").id


def _under(scenario: str) -> Callable[[MockBatchServer, openai.OpenAI], str]:
    return lambda server, client: start_batch(client, [chat_line(i) for i in range(4)], **under(scenario)).id


def _moved(*steps: tuple[float, str]) -> Callable[[MockBatchServer, openai.OpenAI], str]:
    """A four-line batch moved by hand: (seconds to advance first, the status to move it to), in turn."""
    def run(server: MockBatchServer, client: openai.OpenAI) -> str:
        batch_id = start_batch(client, [chat_line(i) for i in range(4)]).id
        for seconds, to in steps:
            server.advance(seconds)
            server.control("POST", f"/batches/{batch_id}/transition", {"to": to})
        return batch_id
    return run


# Every way a batch can end (scenarios, real validation, forced moves), and how it ends. A four-line batch is
# validating until 1 s, in progress until 3 s and finalizing until 4 s.
ENDINGS: dict[str, tuple[Callable[[MockBatchServer, openai.OpenAI], str], str]] = {
    "invalid input file": (_invalid_file, "failed"),
    "token_limit_exceeded": (_under("token_limit_exceeded"), "failed"),
    "cancel_midway": (_under("cancel_midway"), "cancelled"),
    "all_lines_failed": (_under("all_lines_failed"), "completed"),
    "partial_line_errors": (_under("partial_line_errors"), "completed"),
    "finalizing_long": (_under("finalizing_long"), "completed"),
    "moved to completed while finalizing": (_moved((3.5, "completed")), "completed"),
    "moved to expired while in progress": (_moved((1, "expired")), "expired"),
    "moved to failed while validating": (_moved((0, "failed")), "failed"),
    "moved to failed while finalizing": (_moved((3.5, "failed")), "failed"),
    "moved to cancelling": (_moved((0.5, "cancelling")), "cancelled"),
    "moved to cancelling then cancelled": (_moved((1.5, "cancelling"), (0.5, "cancelled")), "cancelled"),
}


@pytest.mark.parametrize("ending", ENDINGS)
def test_every_way_a_batch_ends_sends_the_event_of_its_end(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver, ending: str) -> None:
    endpoint = subscribe(client, receiver.url)
    make, status = ENDINGS[ending]
    batch_id = make(mockbatch, client)
    mockbatch.advance(3600)
    batch = client.batches.retrieve(batch_id)
    assert batch.status == status
    mine = [d for d in receiver.deliveries if d.json()["data"]["id"] == batch_id]
    assert len(mine) == 1, f"{ending}: {len(mine)} deliveries for a batch that ended {batch.status}"
    event = unwrap(client, mine[0], endpoint.signing_secret)
    cls, _, stamp = EVENT_KINDS[f"batch.{batch.status}"]
    assert type(event) is cls and event.created_at == getattr(batch, stamp)


@pytest.mark.mockbatch(request_seconds=10_000)  # ten requests need 100,000 s: past the 24 h window
def test_a_batch_that_runs_out_of_its_window_sends_batch_expired(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url, "batch.expired")
    batch_id = start_batch(client, [chat_line(i) for i in range(10)]).id
    mockbatch.advance(86_399)
    assert receiver.deliveries == []
    mockbatch.advance(1)
    batch = client.batches.retrieve(batch_id)
    assert batch.status == "expired" and batch.expired_at == START + 86_400
    [d] = receiver.deliveries
    event = unwrap(client, d, endpoint.signing_secret)
    assert isinstance(event, BatchExpiredWebhookEvent) and event.created_at == batch.expired_at


# -- 2. who receives an event ------------------------------------------------------------------------------------
def test_only_the_tenants_subscribed_endpoints_receive_an_event(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver,
        second_receiver: WebhookReceiver) -> None:
    completed = subscribe(client, receiver.url, "batch.completed", name="completed")
    both = subscribe(client, second_receiver.url, "batch.cancelled", "batch.completed", name="both")
    failed_only = subscribe(client, second_receiver.url, "batch.failed", name="failed-only")
    stranger = sdk(mockbatch, "sk-someone-else-0000")  # another tenant, subscribed to everything
    subscribe(stranger, second_receiver.url, name="stranger")
    stranger_batch = start_batch(stranger, [chat_line(i) for i in range(5)]).id  # ends at 4.5 s

    batch_id = one_line(client)
    mockbatch.advance(ONE_LINE)
    [a] = receiver.deliveries
    [b] = second_receiver.deliveries
    assert a.body == b.body and a.json()["data"]["id"] == batch_id
    assert a.headers["webhook-id"] != b.headers["webhook-id"]  # one delivery per endpoint, one event
    assert unwrap(client, a, completed.signing_secret).id == unwrap(client, b, both.signing_secret).id
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(client, a, both.signing_secret)  # each endpoint's own secret
    log = mockbatch.deliveries()
    assert {(e["endpoint_id"], e["id"]) for e in log} == {(completed.id, a.headers["webhook-id"]),
                                                         (both.id, b.headers["webhook-id"])}

    receiver.clear()
    second_receiver.clear()
    failed_id = one_line(client, **under("validation_failed"))
    mockbatch.advance(1)  # the failure
    assert receiver.deliveries == []  # batch.completed only
    [f] = second_receiver.deliveries  # failed-only, not `both`
    assert unwrap(client, f, failed_only.signing_secret).data.id == failed_id

    second_receiver.clear()
    mockbatch.advance(1)  # the stranger's batch ends: its own endpoint only
    [s] = second_receiver.deliveries
    assert s.json()["data"]["id"] == stranger_batch and receiver.deliveries == []
    assert [e["tenant"] for e in mockbatch.deliveries()][-1] == "sk-...0000"


def test_message_batches_emit_no_events(server_factory: Callable[..., MockBatchServer],
                                        receiver: WebhookReceiver) -> None:
    anthropic = pytest.importorskip("anthropic")
    server = server_factory(webhook_url=receiver.url)  # the configured endpoint gets every tenant's events
    key = "sk-mockbatch"
    subscribe(sdk(server, key), receiver.url)  # and the Anthropic key's tenant has an endpoint of its own
    claude = anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0,
                                 http_client=anthropic.DefaultHttpxClient(trust_env=False))
    _CLIENTS.append(claude)
    params = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
    ended = claude.messages.batches.create(requests=[{"custom_id": "a", "params": params}])
    cancelled = claude.messages.batches.create(requests=[{"custom_id": f"b{i}", "params": params} for i in range(9)])
    claude.messages.batches.cancel(cancelled.id)
    server.advance(3600)
    assert claude.messages.batches.retrieve(ended.id).processing_status == "ended"
    assert claude.messages.batches.retrieve(cancelled.id).processing_status == "ended"
    assert receiver.deliveries == [] and server.deliveries() == []
    batch_id = one_line(sdk(server, key))  # an OpenAI batch of the same tenant: both endpoints get it
    server.advance(ONE_LINE)
    assert batch_ids(receiver.deliveries) == [batch_id, batch_id]


# -- 3. determinism ----------------------------------------------------------------------------------------------
def _scripted_run(server: MockBatchServer, receiver: WebhookReceiver) -> tuple[Any, ...]:
    client = sdk(server)
    endpoint = subscribe(client, receiver.url)
    receiver.clear()
    receiver.respond(500)
    one_line(client)
    start_batch(client, [chat_line(0), chat_line(1)])
    client.batches.cancel(one_line(client))
    server.advance(1)
    server.advance(2)
    server.advance(5)
    got = [(d.headers["webhook-id"], d.body, d.status) for d in receiver.deliveries]
    return endpoint.id, endpoint.signing_secret, got, server.deliveries(), sent(server)


def test_the_same_seed_and_steps_give_the_same_events_and_webhook_ids(
        server_factory: Callable[..., MockBatchServer], receiver: WebhookReceiver) -> None:
    first = _scripted_run(server_factory(seed=11), receiver)
    second = _scripted_run(server_factory(seed=11), receiver)
    assert first == second
    assert len(first[2]) == 4  # three events, the first one's retry
    assert [status for *_, status in first[2]] == [500, 200, 200, 200]
    other = _scripted_run(server_factory(seed=12), receiver)
    assert {w for w, *_ in other[2]}.isdisjoint(w for w, *_ in first[2])
    assert {e["event"]["id"] for e in other[3]}.isdisjoint(e["event"]["id"] for e in first[3])


def test_a_reset_server_sends_what_a_fresh_one_with_the_same_seed_sends(
        mockbatch: MockBatchServer, receiver: WebhookReceiver) -> None:
    reset = _scripted_run(mockbatch, receiver)  # the session server, reset for this test
    with MockBatchServer(clock="manual", seed=0, start_time=START) as fresh:
        assert _scripted_run(fresh, receiver) == reset


# -- 4. retries ---------------------------------------------------------------------------------------------------
def test_a_failed_delivery_is_retried_on_the_virtual_clock_with_the_same_webhook_id(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url)
    receiver.respond(500, 500)
    batch_id = one_line(client)
    end = START + ONE_LINE
    mockbatch.advance(ONE_LINE)

    def state() -> tuple[Any, ...]:
        [entry] = mockbatch.deliveries()
        return entry["status"], entry["next_attempt_at"], attempts(entry)

    assert [d.status for d in receiver.deliveries] == [500]
    assert state() == ("pending", end + 5, [(end, 500, "answered 500")])
    mockbatch.advance(4.5)
    assert len(receiver.deliveries) == 1 and state()[1] == end + 5
    mockbatch.advance(0.5)
    assert [d.status for d in receiver.deliveries] == [500, 500]
    assert state() == ("pending", end + 35, [(end, 500, "answered 500"), (end + 5, 500, "answered 500")])
    mockbatch.advance(29.5)
    assert len(receiver.deliveries) == 2
    mockbatch.advance(0.5)
    assert [d.status for d in receiver.deliveries] == [500, 500, 200]
    assert state() == ("delivered", None, [(end, 500, "answered 500"), (end + 5, 500, "answered 500"),
                                           (end + 35, 200, None)])
    deliveries = receiver.deliveries
    assert len(set(webhook_ids(deliveries))) == 1 and len({d.body for d in deliveries}) == 1
    for d in deliveries:  # each attempt signed afresh (at its wall time), each verifies
        assert abs(int(d.headers["webhook-timestamp"]) - d.received_at) <= 2
        assert unwrap(client, d, endpoint.signing_secret).data.id == batch_id
    assert [(e["time"], e["status"], e["retry_count"]) for e in sent(mockbatch)] == [
        (end, 500, 0), (end + 5, 500, 1), (end + 35, 200, 2)]
    mockbatch.advance(86_400)
    assert len(receiver.deliveries) == 3  # delivered: never again


@pytest.mark.parametrize(("status", "outcome"), [(201, "delivered"), (204, "delivered"), (299, "delivered"),
                                                (301, "pending"), (404, "pending"), (410, "pending"),
                                                (429, "pending"), (503, "pending")])
def test_only_a_2xx_answer_counts_as_delivered(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver, status: int,
        outcome: str) -> None:
    subscribe(client, receiver.url)
    receiver.respond(status)
    one_line(client)
    end = mockbatch.advance(ONE_LINE)
    [entry] = mockbatch.deliveries()
    error = None if outcome == "delivered" else f"answered {status}"  # a redirect is not followed either
    assert (entry["status"], attempts(entry)) == (outcome, [(end, status, error)])
    assert entry["next_attempt_at"] == (None if outcome == "delivered" else end + 5)
    mockbatch.advance(5)
    assert len(receiver.deliveries) == (1 if outcome == "delivered" else 2)


def test_the_first_attempt_is_made_when_the_clock_gets_there_and_retries_count_from_it(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    # As in the README's example: advance(60) past the batch's end, then advance(5) for the retry.
    subscribe(client, receiver.url)
    receiver.respond(500)
    one_line(client)
    mockbatch.advance(60)
    [entry] = mockbatch.deliveries()
    assert entry["created_at"] == START + ONE_LINE  # made when the batch ended
    assert attempts(entry) == [(START + 60, 500, "answered 500")] and entry["next_attempt_at"] == START + 65
    mockbatch.advance(5)
    assert [d.status for d in receiver.deliveries] == [500, 200]


def test_an_unreachable_endpoint_is_recorded_without_a_status_and_retried(
        mockbatch: MockBatchServer, client: openai.OpenAI) -> None:
    port = free_port()  # nothing listens there
    endpoint = subscribe(client, f"http://127.0.0.1:{port}/webhook")
    one_line(client)
    end = START + ONE_LINE
    mockbatch.advance(ONE_LINE)
    [entry] = mockbatch.deliveries()
    [(at, status, error)] = attempts(entry)
    assert (at, status, entry["status"], entry["next_attempt_at"]) == (end, None, "pending", end + 5)
    assert error and error.startswith("ConnectError")
    [journaled] = sent(mockbatch)
    assert (journaled["status"], journaled["retry_count"]) == (None, 0)
    with WebhookReceiver(port=port) as late:  # the endpoint comes up: the retry gets through
        mockbatch.advance(5)
        [d] = late.deliveries
    assert unwrap(client, d, endpoint.signing_secret).id == entry["event"]["id"]
    [entry] = mockbatch.deliveries()
    assert entry["status"] == "delivered" and [a[1] for a in attempts(entry)] == [None, 200]


def test_a_delivery_is_given_up_after_the_last_attempt(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver.url)
    receiver.respond(then=500)
    one_line(client)
    end = START + ONE_LINE
    mockbatch.advance(ONE_LINE)
    for delay in events.RETRY_DELAYS:
        [entry] = mockbatch.deliveries()
        assert entry["status"] == "pending" and entry["next_attempt_at"] == mockbatch.now() + delay
        mockbatch.advance(delay)
    assert len(receiver.deliveries) == events.ATTEMPTS
    assert len(set(webhook_ids(receiver.deliveries))) == 1
    [entry] = mockbatch.deliveries()
    assert (entry["status"], entry["next_attempt_at"]) == ("failed", None)
    assert [a["at"] for a in entry["attempts"]] == [end + s for s in itertools.accumulate((0, *events.RETRY_DELAYS))]
    assert {(a["status"], a["error"]) for a in entry["attempts"]} == {(500, "answered 500")}
    assert [e["retry_count"] for e in sent(mockbatch)] == list(range(events.ATTEMPTS))
    receiver.respond(then=200)
    mockbatch.advance(30 * 86_400)
    assert len(receiver.deliveries) == events.ATTEMPTS  # given up: never again


@pytest.mark.mockbatch(webhook_timeout=0.3)
def test_an_endpoint_slower_than_the_timeout_counts_as_failed_and_is_retried(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url)
    receiver.delay(1.0, times=1)
    one_line(client)
    end = START + ONE_LINE
    began = time.monotonic()
    mockbatch.advance(ONE_LINE)
    assert time.monotonic() - began < 0.9  # the attempt gave up after 0.3 s, not after the receiver's 1 s
    assert len(receiver.deliveries) == 1  # it did arrive; its answer came too late
    [entry] = mockbatch.deliveries()
    assert (entry["status"], entry["next_attempt_at"]) == ("pending", end + 5)
    assert attempts(entry) == [(end, None, "no answer within 0.3 s")]
    mockbatch.advance(5)
    first, second = receiver.deliveries
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    unwrap(client, second, endpoint.signing_secret)
    [entry] = mockbatch.deliveries()
    assert entry["status"] == "delivered" and attempts(entry)[1] == (end + 5, 200, None)


def test_a_deleted_endpoints_pending_delivery_fails_and_an_updated_url_takes_the_retry(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver,
        second_receiver: WebhookReceiver) -> None:
    moved = subscribe(client, receiver.url, name="moved")
    deleted = subscribe(client, receiver.url, name="deleted")
    receiver.respond(then=500)
    one_line(client)
    end = START + ONE_LINE
    mockbatch.advance(ONE_LINE)
    assert len(receiver.deliveries) == 2
    client.webhooks.update(moved.id, url=second_receiver.url)
    client.webhooks.delete(deleted.id)
    mockbatch.advance(5)
    assert len(receiver.deliveries) == 2
    [d] = second_receiver.deliveries
    unwrap(client, d, moved.signing_secret)
    log = {e["endpoint_id"]: e for e in mockbatch.deliveries()}
    assert (log[moved.id]["status"], log[moved.id]["url"]) == ("delivered", second_receiver.url)
    assert (log[deleted.id]["status"], log[deleted.id]["next_attempt_at"]) == ("failed", None)
    assert attempts(log[deleted.id])[-1] == (end + 5, None, "the webhook endpoint was deleted")


# -- how an answer counts: a status line that dribbles in, a body that never ends, a handler that calls back ---------
def _raw_endpoint(answer: Callable[[socket.socket], None]) -> tuple[str, threading.Thread, socket.socket]:
    """An endpoint on a bare socket that reads one request and answers it with `answer(connection)`."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))  # type: ignore[union-attr]
                while len(body) < length:
                    body += conn.recv(65536)
                answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/hook", thread, listener


@pytest.mark.mockbatch(webhook_timeout=0.3)
def test_an_endpoint_that_dribbles_its_status_line_times_out(
        mockbatch: MockBatchServer, client: openai.OpenAI) -> None:
    def dribble(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.05)  # each byte within any per-read timeout; the whole well past 0.3 s

    url, thread, listener = _raw_endpoint(dribble)
    try:
        subscribe(client, url)
        one_line(client)
        began = time.monotonic()
        end = mockbatch.advance(ONE_LINE)
        assert time.monotonic() - began < 1.0
        [entry] = mockbatch.deliveries()
        assert attempts(entry) == [(end, None, "no answer within 0.3 s")] and entry["status"] == "pending"
    finally:
        listener.close()
        thread.join(10)


def test_an_answer_counts_once_its_status_arrives_whatever_its_body_does(
        mockbatch: MockBatchServer, client: openai.OpenAI) -> None:
    def endless(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
        with contextlib.suppress(OSError):
            for _ in range(100):  # a body that takes 10 s to come, and never comes whole
                conn.sendall(b"x")
                time.sleep(0.1)

    url, _, listener = _raw_endpoint(endless)
    try:
        subscribe(client, url)
        one_line(client)
        began = time.monotonic()
        end = mockbatch.advance(ONE_LINE)
        assert time.monotonic() - began < 2.0
        [entry] = mockbatch.deliveries()
        assert (entry["status"], attempts(entry)) == ("delivered", [(end, 200, None)])
    finally:
        listener.close()


def test_a_handler_may_call_the_api_back_before_it_answers(mockbatch: MockBatchServer, client: openai.OpenAI) -> None:
    seen: list[tuple[str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            batch = client.batches.retrieve(json.loads(body)["data"]["id"])  # the server is busy delivering this
            seen.append((batch.status, len(client.files.content(batch.output_file_id or "").content)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as handler:
        thread = threading.Thread(target=handler.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            subscribe(client, f"http://127.0.0.1:{handler.server_address[1]}/hook")
            one_line(client)
            began = time.monotonic()
            mockbatch.advance(ONE_LINE)
            assert time.monotonic() - began < 2.0
        finally:
            handler.shutdown()
            thread.join(10)
    assert len(seen) == 1 and seen[0][0] == "completed" and seen[0][1] > 0
    assert mockbatch.deliveries()[0]["status"] == "delivered"


# -- 5. deliveries hold nothing up ---------------------------------------------------------------------------------
@pytest.mark.mockbatch(clock="real", time_scale=100, webhook_timeout=5)
def test_a_slow_endpoint_holds_up_no_request_and_no_batch_on_the_real_clock(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver.url, "batch.completed")
    receiver.delay(2.0, times=1)
    first = one_line(client)
    [d] = receiver.wait(1, timeout=5)  # in flight: the receiver answers in 2 s
    assert d.json()["data"]["id"] == first
    began = time.monotonic()
    assert client.batches.retrieve(first).status == "completed"
    second = one_line(client)
    while client.batches.retrieve(second).status != "completed":  # the scheduler moves on meanwhile
        assert time.monotonic() - began < 1.5
        time.sleep(0.02)
    client.batches.list()
    [entry] = [e for e in mockbatch.deliveries() if e["event"]["data"]["id"] == first]
    assert entry["status"] == "pending" and entry["attempts"] == []  # still waiting for its answer
    assert time.monotonic() - began < 1.5  # all of that while the first delivery was still in flight
    assert batch_ids(receiver.wait(2, timeout=10)) == [first, second]  # one endpoint's in order
    deadline = time.monotonic() + 5
    while [e["status"] for e in mockbatch.deliveries()] != ["delivered", "delivered"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.mockbatch(clock="real", time_scale=1000)
def test_retries_run_on_their_own_on_the_real_clock(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url)
    receiver.respond(500, 500)  # retried 5 and 35 virtual seconds later: 5 ms and 35 ms of real time
    batch_id = one_line(client)
    deliveries = receiver.wait(3, timeout=5)
    assert [d.status for d in deliveries] == [500, 500, 200] and len(set(webhook_ids(deliveries))) == 1
    assert unwrap(client, deliveries[-1], endpoint.signing_secret).data.id == batch_id
    deadline = time.monotonic() + 5
    while mockbatch.deliveries()[0]["status"] != "delivered":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [entry] = mockbatch.deliveries()
    at = [a["at"] for a in entry["attempts"]]
    assert at[1] - at[0] >= 5 and at[2] - at[1] >= 30  # the schedule, in virtual seconds


def test_a_transition_waits_for_its_delivery_but_other_requests_do_not(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver.url, "batch.failed")
    receiver.delay(2.0, times=1)
    slow, other = one_line(client), one_line(client)
    answer: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: answer.update(
        mockbatch.control("POST", f"/batches/{slow}/transition", {"to": "failed"})))
    thread.start()
    try:
        receiver.wait(1, timeout=5)
        began = time.monotonic()
        assert client.batches.retrieve(other).status == "validating"
        client.files.list()
        mockbatch.now()
        assert time.monotonic() - began < 1.0
        assert thread.is_alive()  # the transition still waits for its event to be answered
    finally:
        thread.join(10)
    assert answer["status"] == "failed"
    [entry] = mockbatch.deliveries()
    assert entry["status"] == "delivered"


# -- 6. scenario faults --------------------------------------------------------------------------------------------
@pytest.mark.mockbatch(scenario="webhook_duplicate")
def test_duplicate_sends_the_same_webhook_id_and_body_twice(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url)
    batch_id = one_line(client)
    mockbatch.advance(ONE_LINE)
    first, second = receiver.deliveries
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert unwrap(client, first, endpoint.signing_secret).data.id == batch_id
    unwrap(client, second, endpoint.signing_secret)
    log = mockbatch.deliveries()
    assert [(e["id"], e["status"]) for e in log] == [(first.headers["webhook-id"], "delivered")] * 2
    assert [e["fault"] for e in log] == [{"name": "webhook-duplicate", "effect": "duplicate", "seconds": 0.0}] * 2
    assert [e["fault"] for e in sent(mockbatch)] == ["webhook-duplicate"] * 2
    client.batches.cancel(one_line(client))
    mockbatch.advance(1)  # every batch event, not just the first
    assert len(receiver.deliveries) == 4 and len(set(webhook_ids(receiver.deliveries))) == 2


def test_faults_follow_the_scenario_a_batch_was_created_under(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver.url)
    mockbatch.use_scenario("webhook_duplicate")
    twice = one_line(client)
    mockbatch.use_scenario("default")
    once = one_line(client)
    # the X-Mockbatch-Scenario header on the create, under the default scenario
    header = one_line(client, extra_headers={"X-Mockbatch-Scenario": "webhook_duplicate"})
    mockbatch.use_scenario("webhook_duplicate")  # active when they end
    mockbatch.advance(ONE_LINE)
    assert sorted(batch_ids(receiver.deliveries)) == sorted([twice, twice, once, header, header])


def test_out_of_order_holds_the_first_event_until_a_later_one_was_sent(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url)
    early = one_line(client, **under("webhook_out_of_order"))  # ends at 2.5 s
    late = start_batch(client, [chat_line(i) for i in range(3)], **under("webhook_out_of_order")).id  # 3.5 s
    mockbatch.advance(ONE_LINE)
    assert receiver.deliveries == []
    [held] = mockbatch.deliveries()
    assert (held["status"], held["next_attempt_at"], held["attempts"]) == ("held", START + ONE_LINE + 60, [])
    assert held["fault"] == {"name": "webhook-out-of-order", "effect": "out_of_order", "seconds": 60.0}
    mockbatch.advance(1)
    assert batch_ids(receiver.deliveries) == [late, early]
    first, second = (unwrap(client, d, endpoint.signing_secret) for d in receiver.deliveries)
    assert second.created_at < first.created_at  # created_at tells the real order
    assert [e["status"] for e in mockbatch.deliveries()] == ["delivered", "delivered"]
    assert [e["fault"] for e in sent(mockbatch)] == [None, "webhook-out-of-order"]  # times = 1


def test_an_out_of_order_event_alone_is_released_after_its_seconds(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver.url)
    batch_id = one_line(client, **under("webhook_out_of_order"))
    mockbatch.advance(ONE_LINE)
    mockbatch.advance(events.HOLD_SECONDS - 0.5)
    assert receiver.deliveries == []
    mockbatch.advance(0.5)
    assert batch_ids(receiver.deliveries) == [batch_id]
    [entry] = mockbatch.deliveries()
    assert attempts(entry) == [(START + ONE_LINE + events.HOLD_SECONDS, 200, None)]


def test_delay_sends_the_event_seconds_late(faulty: MockBatchServer, receiver: WebhookReceiver) -> None:
    client = sdk(faulty)
    endpoint = subscribe(client, receiver.url)
    batch_id = one_line(client, **under("wh_delay"))
    faulty.advance(ONE_LINE)
    [entry] = faulty.deliveries()
    assert (entry["status"], entry["next_attempt_at"]) == ("pending", START + ONE_LINE + 30)
    faulty.advance(29.5)
    assert receiver.deliveries == []
    faulty.advance(0.5)
    [d] = receiver.deliveries
    assert unwrap(client, d, endpoint.signing_secret).data.id == batch_id
    [entry] = faulty.deliveries()
    assert attempts(entry) == [(START + ONE_LINE + 30, 200, None)]
    assert [e["fault"] for e in sent(faulty)] == ["late"]


def test_drop_never_sends_the_event(faulty: MockBatchServer, receiver: WebhookReceiver) -> None:
    client = sdk(faulty)
    subscribe(client, receiver.url)
    one_line(client, **under("wh_drop"))
    faulty.advance(ONE_LINE)
    faulty.advance(30 * 86_400)
    assert receiver.deliveries == [] and sent(faulty) == []
    [entry] = faulty.deliveries()
    assert (entry["status"], entry["next_attempt_at"], entry["attempts"]) == ("dropped", None, [])
    assert entry["fault"] == {"name": "lost", "effect": "drop", "seconds": 0.0}


def test_wrong_secret_fails_verification_once_and_the_retry_verifies(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url)
    receiver.respond(400)  # what a handler answers to a signature it refuses
    batch_id = one_line(client, **under("webhook_bad_signature"))
    mockbatch.advance(ONE_LINE)
    [bad] = receiver.deliveries
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(client, bad, endpoint.signing_secret)
    assert SIGNATURE.fullmatch(bad.headers["webhook-signature"])  # well formed, just not the endpoint's
    [entry] = mockbatch.deliveries()
    assert attempts(entry) == [(START + ONE_LINE, 400, "answered 400")]
    mockbatch.advance(5)
    bad, good = receiver.deliveries
    assert good.headers["webhook-id"] == bad.headers["webhook-id"] and good.body == bad.body
    assert unwrap(client, good, endpoint.signing_secret).data.id == batch_id
    assert [e["fault"] for e in sent(mockbatch)] == ["webhook-bad-signature", None]  # the retry is not faulted
    receiver.clear()
    one_line(client, **under("webhook_bad_signature"))
    mockbatch.advance(ONE_LINE)
    [next_one] = receiver.deliveries  # times = 1: the next event is signed right
    unwrap(client, next_one, endpoint.signing_secret)
    assert sent(mockbatch)[-1]["fault"] is None


def test_stale_timestamp_is_refused_by_the_sdk_as_too_old(faulty: MockBatchServer, receiver: WebhookReceiver) -> None:
    client = sdk(faulty)
    endpoint = subscribe(client, receiver.url)
    receiver.respond(400)
    batch_id = one_line(client, **under("wh_stale"))
    faulty.advance(ONE_LINE)
    [d] = receiver.deliveries
    assert abs(int(d.headers["webhook-timestamp"]) - (time.time() - events.STALE_SECONDS)) <= 5
    with pytest.raises(openai.InvalidWebhookSignatureError, match="Webhook timestamp is too old"):
        unwrap(client, d, endpoint.signing_secret)
    client.webhooks.verify_signature(d.body, d.headers, secret=endpoint.signing_secret, tolerance=10**6)
    assert d.headers["webhook-signature"] == webhook_signature(endpoint.signing_secret, d)  # correctly signed
    assert [e["fault"] for e in sent(faulty)] == ["stale"]
    faulty.advance(5)
    _, retry = receiver.deliveries  # the first attempt only: the retry is stamped now
    assert abs(int(retry.headers["webhook-timestamp"]) - time.time()) <= 5
    assert unwrap(client, retry, endpoint.signing_secret).data.id == batch_id


def test_malformed_body_verifies_but_does_not_parse(faulty: MockBatchServer, receiver: WebhookReceiver) -> None:
    client = sdk(faulty)
    endpoint = subscribe(client, receiver.url)
    receiver.respond(400)
    batch_id = one_line(client, **under("wh_malformed"))
    faulty.advance(ONE_LINE)
    faulty.advance(5)
    cut, whole = receiver.deliveries
    client.webhooks.verify_signature(cut.body, cut.headers, secret=endpoint.signing_secret)
    with pytest.raises(json.JSONDecodeError):
        unwrap(client, cut, endpoint.signing_secret)
    assert unwrap(client, whole, endpoint.signing_secret).data.id == batch_id  # the retry carries the event
    assert cut.body == whole.body[: len(whole.body) // 2]
    assert [e["fault"] for e in sent(faulty)][:1] == ["cut"]


def test_after_and_times_pick_which_deliveries_a_fault_hits(
        faulty: MockBatchServer, receiver: WebhookReceiver) -> None:
    client = sdk(faulty)
    subscribe(client, receiver.url)
    made = [one_line(client, **under("wh_second_only"))]
    faulty.advance(ONE_LINE)
    made.append(one_line(client, **under("wh_second_only")))
    faulty.advance(ONE_LINE)
    made.append(one_line(client, **under("wh_second_only")))
    faulty.advance(ONE_LINE)
    assert [e["status"] for e in faulty.deliveries()] == ["delivered", "dropped", "delivered"]
    assert batch_ids(receiver.deliveries) == [made[0], made[2]]


def test_a_fault_for_one_event_type_leaves_the_others_alone(
        faulty: MockBatchServer, receiver: WebhookReceiver) -> None:
    client = sdk(faulty)
    subscribe(client, receiver.url)
    completed = one_line(client, **under("wh_failures_dropped"))
    failed = one_line(client, **under("wh_failures_dropped"))
    faulty.advance(1)
    faulty.control("POST", f"/batches/{failed}/transition", {"to": "failed"})
    faulty.advance(ONE_LINE)
    assert batch_ids(receiver.deliveries) == [completed]
    assert [(e["event"]["type"], e["status"]) for e in faulty.deliveries()] == [("batch.failed", "dropped"),
                                                                               ("batch.completed", "delivered")]


def test_probability_faults_a_seeded_share_the_same_each_run(
        faulty: MockBatchServer, receiver: WebhookReceiver) -> None:
    def run() -> list[bool]:
        client = sdk(faulty)
        subscribe(client, receiver.url)
        made = [one_line(client, **under("wh_sometimes")) for _ in range(12)]
        faulty.advance(ONE_LINE)
        counts = {batch_id: batch_ids(receiver.deliveries).count(batch_id) for batch_id in made}
        assert set(counts.values()) <= {1, 2}
        return [counts[batch_id] == 2 for batch_id in made]

    first = run()
    assert 0 < sum(first) < len(first)
    faulty.reset()
    receiver.clear()
    assert run() == first


# -- 7. the endpoint configured at start --------------------------------------------------------------------------
def test_the_configured_endpoint_gets_every_tenants_events_signed_with_its_secret(
        server_factory: Callable[..., MockBatchServer], receiver: WebhookReceiver) -> None:
    secret = "whsec_" + base64.b64encode(b"a secret given to the server ...").decode()
    server = server_factory(webhook_url=receiver.url, webhook_secret=secret)
    assert server.webhook_secret == secret
    alice, bob = sdk(server, "sk-alice-000000001111"), sdk(server, "sk-bob-0000000002222")
    a = one_line(alice)
    b = one_line(bob)
    bob.batches.cancel(b)
    server.advance(ONE_LINE)
    assert sorted(batch_ids(receiver.deliveries)) == sorted([a, b])
    kinds = {unwrap(alice, d, secret).data.id: type(unwrap(alice, d, secret)) for d in receiver.deliveries}
    assert kinds == {a: BatchCompletedWebhookEvent, b: BatchCancelledWebhookEvent}
    log = server.deliveries()
    assert {(e["endpoint_id"], e["url"]) for e in log} == {(None, receiver.url)}
    assert sorted(e["tenant"] for e in log) == ["sk-...1111", "sk-...2222"]

    registered = subscribe(alice, receiver.url, "batch.completed")  # beside the configured one, not instead
    receiver.clear()
    c = one_line(alice)
    server.advance(ONE_LINE)
    one, two = receiver.deliveries
    assert batch_ids([one, two]) == [c, c] and one.headers["webhook-id"] != two.headers["webhook-id"]
    secrets = {registered.signing_secret, secret}
    for d in (one, two):
        assert sum(verifies(alice, d, s) for s in secrets) == 1


def test_the_configured_endpoint_gets_azure_batches_events(
        server_factory: Callable[..., MockBatchServer], receiver: WebhookReceiver) -> None:
    server = server_factory(webhook_url=receiver.url)
    key = "azure-key-0123456789abcdef"
    azure = openai.AzureOpenAI(azure_endpoint=server.url, api_key=key, api_version="2024-10-21", max_retries=0,
                               http_client=openai.DefaultHttpxClient(trust_env=False))
    _CLIENTS.append(azure)
    batch_id = one_line(azure)
    server.advance(ONE_LINE)
    [d] = receiver.deliveries
    event = unwrap(azure, d, server.webhook_secret)
    assert isinstance(event, BatchCompletedWebhookEvent) and event.data.id == batch_id
    [entry] = server.deliveries()
    assert entry["endpoint_id"] is None and key not in json.dumps(entry) and entry["tenant"].endswith("cdef")


def test_without_a_secret_the_one_derived_from_the_seed_signs(
        server_factory: Callable[..., MockBatchServer], receiver: WebhookReceiver) -> None:
    server = server_factory(webhook_url=receiver.url, seed=21)
    secret = server.webhook_secret
    assert secret.startswith("whsec_") and events.secret_problem(secret) is None
    assert MockBatchServer(webhook_url=receiver.url, seed=21).webhook_secret == secret  # derived, not random
    assert MockBatchServer(webhook_url=receiver.url, seed=22).webhook_secret != secret
    client = sdk(server)
    batch_id = one_line(client)
    server.advance(ONE_LINE)
    [d] = receiver.deliveries
    assert unwrap(client, d, secret).data.id == batch_id


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MOCKBATCH_")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook-url", "ftp://x"],
         "mockbatch: error: webhook-url: must be an http:// or https:// URL with a host, got 'ftp://x'"),
        (["--webhook-url", "http://127.0.0.1:9/hook", "--webhook-secret", "nope"],
         "mockbatch: error: webhook-secret: must start with 'whsec_'"),
        (["--webhook-secret", "whsec_" + base64.b64encode(b"k" * 32).decode()],
         "mockbatch: error: webhook-secret: given without webhook-url, it would sign nothing"),
    ],
)
def test_the_cli_refuses_bad_webhook_settings_in_one_line(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "mockbatch", "serve", "--port", str(free_port()), *args],
                          capture_output=True, text=True, timeout=30, env=_clean_env())
    assert (done.returncode, done.stderr, done.stdout) == (2, message + "\n", "")


def _lines(proc: subprocess.Popen[bytes], count: int, timeout: float = 10) -> list[str]:
    """The first `count` lines the process printed, without blocking past `timeout` (read from the pipe's file
    descriptor itself, so that nothing waits in a buffer that `select` cannot see)."""
    assert proc.stdout is not None
    fd, out = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while out.count(b"\n") < count:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        assert chunk, f"printed only {out!r}"
        out += chunk
    return out.decode().splitlines()[:count]


def test_mockbatch_webhook_url_in_the_environment_delivers(receiver: WebhookReceiver) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # deliveries go straight to the endpoint, not through it
    env = {**_clean_env(), "MOCKBATCH_WEBHOOK_URL": receiver.url, "HTTP_PROXY": dead_proxy, "http_proxy": dead_proxy,
           "ALL_PROXY": dead_proxy, "NO_PROXY": "", "no_proxy": ""}
    proc = ServeProcess("--clock", "manual", "--seed", "4", "--workers", "0", env=env).start()
    try:
        assert proc.proc is not None
        secret = MockBatchServer(seed=4, webhook_url=receiver.url).webhook_secret
        assert _lines(proc.proc, 2)[1] == f"mockbatch sends batch events to {receiver.url}, signed with {secret}"
        client = sdk(proc, "k")
        batch_id = one_line(client)
        proc.advance(ONE_LINE)
        [d] = receiver.deliveries
        assert unwrap(client, d, secret).data.id == batch_id
    finally:
        proc.stop()


# -- 8. restarts --------------------------------------------------------------------------------------------------
def test_a_pending_retry_survives_a_restart_on_the_same_database(
        server_factory: Callable[..., MockBatchServer], receiver: WebhookReceiver, tmp_path: Any) -> None:
    db = str(tmp_path / "db.sqlite3")
    first = server_factory(db=db)
    client = sdk(first)
    endpoint = subscribe(client, receiver.url)
    receiver.respond(500)
    batch_id = one_line(client)
    end = first.advance(ONE_LINE)
    assert [d.status for d in receiver.deliveries] == [500]
    first.stop()

    second = server_factory(db=db)
    assert second.now() == end
    assert len(receiver.deliveries) == 1  # not due yet: nothing sent at start
    second.advance(5)
    failed, delivered = receiver.deliveries
    assert failed.headers["webhook-id"] == delivered.headers["webhook-id"] and delivered.status == 200
    assert unwrap(sdk(second), delivered, endpoint.signing_secret).data.id == batch_id
    [entry] = second.deliveries()
    assert entry["status"] == "delivered"
    assert attempts(entry) == [(end, 500, "answered 500"), (end + 5, 200, None)]


def _serve(db: str, *extra: str, port: int | None = None) -> ServeProcess:
    return ServeProcess("--db", db, "--clock", "manual", "--seed", "3", "--workers", "0",
                        "--start-time", "2025-06-01T00:00:00Z", *extra, port=port, env=_clean_env()).start()


def _log(proc: ServeProcess) -> list[dict[str, Any]]:
    answer = httpx.get(proc.url + "/_mockbatch/webhooks", timeout=10, trust_env=False)
    answer.raise_for_status()
    return list(answer.json()["data"])


def test_sigkill_after_a_failed_attempt_then_restart_delivers(tmp_path: Any, receiver: WebhookReceiver) -> None:
    db = str(tmp_path / "killed.sqlite3")
    proc = _serve(db)
    try:
        client = sdk(proc, "k")
        endpoint = subscribe(client, receiver.url)
        receiver.respond(500)
        batch_id = one_line(client)
        proc.advance(ONE_LINE)
        assert [d.status for d in receiver.deliveries] == [500]
        proc.kill()
        proc.stop()  # closes its pipes
        proc = _serve(db, port=proc.port)
        proc.advance(5)
        deliveries = receiver.deliveries
        assert len(deliveries) >= 2 and deliveries[-1].status == 200  # at least once
        assert len(set(webhook_ids(deliveries))) == 1
        assert unwrap(client, deliveries[-1], endpoint.signing_secret).data.id == batch_id
        [entry] = _log(proc)
        assert entry["status"] == "delivered" and [a["status"] for a in entry["attempts"]][-1] == 200
    finally:
        proc.stop()


def test_sigkill_while_a_delivery_is_in_flight_sends_it_again(tmp_path: Any, receiver: WebhookReceiver) -> None:
    db = str(tmp_path / "killed.sqlite3")
    proc = _serve(db, "--webhook-timeout", "30")
    try:
        client = sdk(proc, "k")
        endpoint = subscribe(client, receiver.url)
        receiver.delay(30, times=1)  # the first attempt is never answered before the kill
        batch_id = one_line(client)
        advancing = threading.Thread(target=lambda: _ignore(lambda: proc.advance(ONE_LINE)))
        advancing.start()
        receiver.wait(1, timeout=10)
        proc.kill()
        proc.stop()  # closes its pipes
        advancing.join(10)
        proc = _serve(db, "--webhook-timeout", "30", port=proc.port)
        first, again = receiver.wait(2, timeout=10)  # due since before the kill: sent at start
        assert first.headers["webhook-id"] == again.headers["webhook-id"] and first.body == again.body
        assert unwrap(client, again, endpoint.signing_secret).data.id == batch_id
        deadline = time.monotonic() + 5
        while _log(proc)[0]["status"] != "delivered":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.stop()


def test_sigkills_while_batches_end_make_each_event_once_and_deliver_it_at_least_once(
        tmp_path: Any, receiver: WebhookReceiver) -> None:
    db = str(tmp_path / "killed.sqlite3")
    args = ("--db", db, "--clock", "real", "--time-scale", "50", "--seed", "3", "--workers", "0",
            "--webhook-timeout", "1")
    proc = ServeProcess(*args, env=_clean_env()).start()
    try:
        client = sdk(proc, "k")
        subscribe(client, receiver.url, "batch.completed")
        receiver.delay(0.05)  # so that some kills land while a delivery is in flight
        made = [start_batch(client, [chat_line(j) for j in range(i % 5 + 1)]).id for i in range(12)]
        for pause in (0.1, 0.25, 0.05):  # batches end (at 50x: 0.05 to 0.15 s each) and deliveries go meanwhile
            time.sleep(pause)
            proc.kill()
            proc.stop()  # closes its pipes
            proc = ServeProcess(*args, port=proc.port, env=_clean_env()).start()
        deadline = time.monotonic() + 20
        while True:
            log = _log(proc)
            if len(log) == len(made) and all(e["status"] == "delivered" for e in log):
                break
            assert time.monotonic() < deadline, [e["status"] for e in log]
            time.sleep(0.1)
    finally:
        proc.stop()
    assert sorted(e["event"]["data"]["id"] for e in log) == sorted(made)  # one event per batch, none twice
    assert len({e["id"] for e in log}) == len({e["event"]["id"] for e in log}) == len(made)
    arrived = {d.json()["data"]["id"]: d.headers["webhook-id"] for d in receiver.deliveries}
    assert arrived == {e["event"]["data"]["id"]: e["id"] for e in log}  # each at least once, with its own id


def _ignore(call: Callable[[], object]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server was killed under it
        call()


# -- 9. the delivery log and the journal --------------------------------------------------------------------------
def test_the_delivery_log_and_the_journal_show_each_attempt_and_mask_the_key(
        mockbatch: MockBatchServer, receiver: WebhookReceiver) -> None:
    key = "sk-proj-do-not-show-me-abcd1234"
    client = sdk(mockbatch, key)
    endpoint = subscribe(client, receiver.url)
    receiver.respond(503)
    batch_id = one_line(client)
    end = mockbatch.advance(ONE_LINE)
    mockbatch.advance(5)
    first, _ = receiver.deliveries
    [entry] = mockbatch.deliveries()
    assert set(entry) == LOG_KEYS
    assert entry == {"id": first.headers["webhook-id"], "event": first.json(), "endpoint_id": endpoint.id,
                     "url": receiver.url, "tenant": "sk-...1234", "status": "delivered", "test": False, "fault": None,
                     "created_at": end, "attempts": [{"at": end, "status": 503, "error": "answered 503"},
                                                     {"at": end + 5, "status": 200, "error": None}],
                     "next_attempt_at": None}
    common = {"tenant": "sk-...1234", "method": "POST", "path": receiver.url, "operation": "webhooks.deliver",
              "fault": None, "batch_id": batch_id, "file_id": None}
    assert sent(mockbatch) == [{"time": end, **common, "status": 503, "retry_count": 0},
                               {"time": end + 5, **common, "status": 200, "retry_count": 1}]
    assert key not in json.dumps(mockbatch.deliveries()) and key not in json.dumps(mockbatch.requests())


def test_reset_empties_the_log_and_the_endpoints_and_cancels_pending_retries(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver.url)
    receiver.respond(then=500)
    one_line(client)
    mockbatch.advance(ONE_LINE)
    assert len(mockbatch.deliveries()) == 1 and len(sent(mockbatch)) == 1
    mockbatch.reset()
    assert mockbatch.deliveries() == [] and sent(mockbatch) == []
    assert client.webhooks.list().data == []
    mockbatch.advance(86_400)
    assert len(receiver.deliveries) == 1  # the pending retry went with the reset


# -- 10. a rotated secret's overlap -------------------------------------------------------------------------------
def test_a_rotation_kept_for_24_hours_signs_with_both_secrets_until_it_ends(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    old = subscribe(client, receiver.url).signing_secret
    new = client.webhooks.rotate_secret(client.webhooks.list().data[0].id,
                                        keep_old_secret_active_for_24_hours=True).signing_secret
    assert new != old
    receiver.respond(500, 500)
    batch_id = one_line(client)
    mockbatch.advance(ONE_LINE)
    mockbatch.advance(5)
    for d in receiver.deliveries:
        signatures = d.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2 and all(SIGNATURE.fullmatch(s) for s in signatures)
        assert unwrap(client, d, old).data.id == batch_id and unwrap(client, d, new).data.id == batch_id
    mockbatch.advance(events.ROTATION_OVERLAP)  # the next retry falls after the overlap
    last = receiver.deliveries[-1]
    assert len(receiver.deliveries) == 3 and last.status == 200
    assert SIGNATURE.fullmatch(last.headers["webhook-signature"])
    assert unwrap(client, last, new).data.id == batch_id
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(client, last, old)


def test_a_rotation_without_overlap_stops_the_old_secret_at_once(
        mockbatch: MockBatchServer, client: openai.OpenAI, receiver: WebhookReceiver) -> None:
    endpoint = subscribe(client, receiver.url)
    new = client.webhooks.rotate_secret(endpoint.id).signing_secret
    one_line(client)
    mockbatch.advance(ONE_LINE)
    [d] = receiver.deliveries
    assert SIGNATURE.fullmatch(d.headers["webhook-signature"])
    unwrap(client, d, new)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(client, d, endpoint.signing_secret)
