"""The webhook endpoints API (`client.webhooks`) through a real server and the official SDK: create, retrieve, update,
list, delete, rotate_secret, test and the event types; every refusal's exact envelope; tenants kept apart; Azure
without any of it; the request journal. Deliveries as batches end are tests/test_webhook_delivery.py's.

Everything is deterministic: the `mockbatch` fixture's clock is manual, and `webhooks.test` sends its sample at once,
within the request, so the receiver has it when the call returns."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import typing
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.webhooks import (
    BatchCompletedWebhookEvent,
    DeletedWebhookEndpoint,
    ResponseCompletedWebhookEvent,
    WebhookEndpoint,
    WebhookEndpointTestResult,
    WebhookEndpointWithSecret,
)
from openai.types.webhooks.unwrap_webhook_event import UnwrapWebhookEvent
from openai.types.webhooks.webhook_event_type_list import WebhookEventTypeList

from mockbatch.events import EVENT_TYPES
from mockbatch.receiver import WebhookReceiver
from mockbatch.server import MockBatchServer
from mockbatch.traffic import mask_key
from tests.helpers import chat_line, start_batch, verifies, webhook_signature

ENDPOINT_ID = re.compile(r"we_[0-9a-f]{32}")
EVENT_ID = re.compile(r"evt_[0-9a-f]{32}")
WEBHOOK_ID = re.compile(r"wh_[0-9a-f]{32}")
SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")  # base64 of 32 bytes
WITH_SECRET = {"id", "object", "name", "url", "event_types", "signing_secret", "signing_secret_hint", "created_at",
               "updated_at"}
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
DAY = 86_400
BAD_JSON = ("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
            "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
            "have trouble figuring out how to fix this, please contact us through our help center at "
            "help.openai.com.)")
URL_SHAPE = "must be an http:// or https:// URL with a host"

# The SDK's class for each event type `unwrap` knows, read off its discriminated union.
SDK_EVENTS: dict[str, type[Any]] = {
    typing.get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in typing.get_args(typing.get_args(UnwrapWebhookEvent)[0])
}


# -- helpers ------------------------------------------------------------------------------------------------------
def envelope(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The `error` object of an OpenAI error envelope (what the SDK's exception carries as `.body`)."""
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}


def refused(call: Callable[[], Any], status: type[openai.APIStatusError] = openai.BadRequestError
            ) -> openai.APIStatusError:
    """The SDK's exception for a call the server refuses, checked to carry a parsed envelope."""
    with pytest.raises(status) as err:
        call()
    assert isinstance(err.value.body, dict)
    return err.value


def not_found(endpoint_id: str) -> dict[str, Any]:
    return envelope(f"No webhook endpoint found with id '{endpoint_id}'.", "webhook_endpoint_id",
                    "webhook_endpoint_not_found")


def supported(value: str) -> str:
    """The invalid_value message for an unknown event type, worded as errors.value_message words it."""
    quoted = [f"'{t}'" for t in EVENT_TYPES]
    return f"Invalid value: '{value}'. Supported values are: {', '.join(quoted[:-1])}, and {quoted[-1]}."


def type_error(param: str, expected: str, got: str) -> dict[str, Any]:
    return envelope(f"Invalid type for '{param}': expected {expected}, but got {got} instead.", param, "invalid_type")


def new_endpoint(api: openai.OpenAI, url: str, name: str = "hooks",
                 event_types: tuple[str, ...] = ("batch.completed",)) -> WebhookEndpointWithSecret:
    return api.webhooks.create(name=name, url=url, event_types=list(event_types))  # type: ignore[arg-type]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raw_json(response: Any) -> dict[str, Any]:
    """The body of a `with_raw_response` call, parsed as it came over the wire."""
    data = json.loads(response.text)
    assert isinstance(data, dict)
    return data


def now(server: MockBatchServer) -> int:
    return int(server.now())


# -- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture
def api(mockbatch_client: openai.OpenAI) -> openai.OpenAI:
    """The plugin's client without retries: a refusal is seen once, and a 500 is not hidden behind a retry."""
    return mockbatch_client.with_options(max_retries=0)


@pytest.fixture
def receiver(mockbatch_webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    return mockbatch_webhook_receiver


@pytest.fixture
def tenants(mockbatch: MockBatchServer) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    """Two clients with API keys of their own: two tenants of the same server."""
    clients = [openai.OpenAI(base_url=mockbatch.base_url, api_key=key, max_retries=0,
                             http_client=openai.DefaultHttpxClient(trust_env=False)) for key in ("sk-a", "sk-b")]
    yield clients[0], clients[1]
    for client in clients:
        client.close()


# -- create -------------------------------------------------------------------------------------------------------
def test_create_answers_the_endpoint_with_its_secret_once(mockbatch: MockBatchServer, api: openai.OpenAI,
                                                          receiver: WebhookReceiver) -> None:
    mockbatch.advance(42)
    raw = api.webhooks.with_raw_response.create(
        name="Batch hooks", url=receiver.url,
        event_types=["batch.failed", "batch.completed", "batch.failed", "response.completed", "batch.completed"])
    e = raw.parse()
    assert type(e) is WebhookEndpointWithSecret
    assert ENDPOINT_ID.fullmatch(e.id)
    assert SECRET.fullmatch(e.signing_secret)
    assert len(base64.b64decode(e.signing_secret.removeprefix("whsec_"), validate=True)) == 32
    at = now(mockbatch)  # the virtual clock, not the wall's
    body = raw_json(raw)
    assert body == {"id": e.id, "object": "webhook_endpoint", "name": "Batch hooks", "url": receiver.url,
                    "event_types": ["batch.failed", "batch.completed", "response.completed"],  # deduplicated, in order
                    "signing_secret": e.signing_secret, "signing_secret_hint": f"whsec_...{e.signing_secret[-4:]}",
                    "created_at": at, "updated_at": at}
    assert set(body) == WITH_SECRET == set(WebhookEndpointWithSecret.model_fields)  # every field on the wire
    assert e.model_dump() == body


def test_ids_and_secrets_follow_the_seed(mockbatch: MockBatchServer, api: openai.OpenAI,
                                         mockbatch_settings: dict[str, Any]) -> None:
    def two(server: MockBatchServer) -> list[tuple[str, str]]:
        with openai.OpenAI(base_url=server.base_url, api_key=api.api_key, max_retries=0,
                           http_client=openai.DefaultHttpxClient(trust_env=False)) as client:
            made = [new_endpoint(client, f"https://example.com/{i}") for i in range(2)]
        return [(e.id, e.signing_secret) for e in made]

    here = [(e.id, e.signing_secret) for e in (new_endpoint(api, f"https://example.com/{i}") for i in range(2))]
    assert len({i for i, _ in here}) == 2 and len({s for _, s in here}) == 2
    with MockBatchServer(**mockbatch_settings) as same:
        assert two(same) == here  # another server, the same seed: the same ids and secrets
    with MockBatchServer(**{**mockbatch_settings, "seed": mockbatch_settings["seed"] + 1}) as other:
        theirs = two(other)
    assert {i for i, _ in theirs}.isdisjoint(i for i, _ in here)
    assert {s for _, s in theirs}.isdisjoint(s for _, s in here)


def test_a_reset_starts_the_ids_over(mockbatch: MockBatchServer, api: openai.OpenAI) -> None:
    first = new_endpoint(api, "https://example.com/hook")
    mockbatch.reset()
    again = new_endpoint(api, "https://example.com/hook")
    assert (again.id, again.signing_secret) == (first.id, first.signing_secret)


# -- retrieve -----------------------------------------------------------------------------------------------------
def test_retrieve_shows_the_hint_never_the_secret(mockbatch: MockBatchServer, api: openai.OpenAI,
                                                  receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url, event_types=("batch.completed", "batch.expired"))
    mockbatch.advance(5)
    raw = api.webhooks.with_raw_response.retrieve(e.id)
    got = raw.parse()
    assert type(got) is WebhookEndpoint
    body = raw_json(raw)
    assert body == {"id": e.id, "object": "webhook_endpoint", "name": "hooks", "url": receiver.url,
                    "event_types": ["batch.completed", "batch.expired"],
                    "signing_secret_hint": f"whsec_...{e.signing_secret[-4:]}",
                    "created_at": e.created_at, "updated_at": e.created_at}
    assert "signing_secret" not in body and e.signing_secret not in raw.text
    assert set(body) == set(WebhookEndpoint.model_fields)
    assert got.model_dump() == body


def test_retrieve_an_unknown_id(api: openai.OpenAI) -> None:
    err = refused(lambda: api.webhooks.retrieve("we_x"), openai.NotFoundError)
    assert err.status_code == 404
    assert err.body == not_found("we_x")
    assert (err.code, err.param) == ("webhook_endpoint_not_found", "webhook_endpoint_id")


# -- update -------------------------------------------------------------------------------------------------------
def test_update_each_field(mockbatch: MockBatchServer, api: openai.OpenAI, receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    created = e.created_at
    hint = f"whsec_...{e.signing_secret[-4:]}"
    expected = {"id": e.id, "object": "webhook_endpoint", "name": "hooks", "url": receiver.url,
                "event_types": ["batch.completed"], "signing_secret_hint": hint, "created_at": created,
                "updated_at": created}
    for seconds, change in ((10, {"name": "renamed"}),
                            (20, {"url": "https://example.com/moved"}),
                            (30, {"event_types": ["batch.cancelled", "batch.expired", "batch.cancelled"]})):
        mockbatch.advance(seconds)
        raw = api.webhooks.with_raw_response.update(e.id, **change)  # type: ignore[arg-type]
        got = raw.parse()
        assert type(got) is WebhookEndpoint
        if "event_types" in change:
            change = {"event_types": ["batch.cancelled", "batch.expired"]}  # deduplicated, in order
        expected.update(change, updated_at=now(mockbatch))
        assert raw_json(raw) == expected
        assert api.webhooks.retrieve(e.id).model_dump() == expected
    assert expected["updated_at"] == created + 60
    assert expected["signing_secret_hint"] == hint  # an update leaves the secret alone


def test_update_of_several_fields_at_once(mockbatch: MockBatchServer, api: openai.OpenAI,
                                          receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    mockbatch.advance(7)
    got = api.webhooks.update(e.id, name="both", url="https://example.com/both", event_types=["batch.failed"])
    assert (got.name, got.url, got.event_types, got.updated_at) == ("both", "https://example.com/both",
                                                                    ["batch.failed"], e.created_at + 7)


def test_an_update_that_changes_nothing_keeps_updated_at(mockbatch: MockBatchServer, api: openai.OpenAI,
                                                         receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url, event_types=("batch.completed", "batch.failed"))
    before = api.webhooks.retrieve(e.id).model_dump()
    mockbatch.advance(100)
    for same in ({}, {"name": "hooks"}, {"url": receiver.url},
                 {"event_types": ["batch.completed", "batch.failed", "batch.completed"]},  # the same once deduplicated
                 {"name": "hooks", "url": receiver.url, "event_types": ["batch.completed", "batch.failed"]}):
        assert api.webhooks.update(e.id, **same).model_dump() == before  # type: ignore[arg-type]
    assert api.webhooks.retrieve(e.id).model_dump() == before
    assert before["updated_at"] == e.created_at


def test_an_update_moves_where_the_test_event_goes(api: openai.OpenAI, receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    api.webhooks.update(e.id, url=receiver.url.replace("/webhook", "/moved"))
    api.webhooks.test(e.id, event_type="batch.completed")
    [delivery] = receiver.deliveries
    assert (delivery.method, delivery.path) == ("POST", "/moved")
    assert verifies(api, delivery, e.signing_secret)  # the secret did not change with the URL


# -- list ---------------------------------------------------------------------------------------------------------
def test_list_is_newest_first_and_pages(mockbatch: MockBatchServer, api: openai.OpenAI) -> None:
    made = []
    for i in range(5):
        made.append(new_endpoint(api, f"https://example.com/{i}", name=f"hook {i}"))
        mockbatch.advance(1)
    ids = [e.id for e in reversed(made)]
    assert [e.id for e in api.webhooks.list(limit=2)] == ids  # the SDK's auto-pagination: three pages
    assert [e.id for e in api.webhooks.list()] == ids
    everything = list(api.webhooks.list(limit=100))
    assert all(type(e) is WebhookEndpoint for e in everything)
    assert [e.model_dump() for e in everything] == [api.webhooks.retrieve(i).model_dump() for i in ids]

    pages = []
    after: str | None = None
    while True:
        query = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = raw_json(api.webhooks.with_raw_response.list(**query))  # type: ignore[arg-type]
        pages.append(page)
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert [(p["object"], [e["id"] for e in p["data"]], p["first_id"], p["last_id"], p["has_more"])
            for p in pages] == [("list", ids[0:2], ids[0], ids[1], True),
                                ("list", ids[2:4], ids[2], ids[3], True),
                                ("list", ids[4:], ids[4], ids[4], False)]
    assert all("signing_secret" not in e for p in pages for e in p["data"])
    assert set(pages[0]) == {"object", "data", "first_id", "last_id", "has_more"}


def test_list_when_there_are_none(api: openai.OpenAI) -> None:
    assert raw_json(api.webhooks.with_raw_response.list()) == {"object": "list", "data": [], "first_id": None,
                                                               "last_id": None, "has_more": False}


def test_list_limit_bounds(api: openai.OpenAI) -> None:
    for limit in (1, 100):
        assert raw_json(api.webhooks.with_raw_response.list(limit=limit))["data"] == []
    err = refused(lambda: api.webhooks.list(limit=0))
    assert err.status_code == 400
    assert err.body == envelope("Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 "
                                "instead.", "limit", "integer_below_min_value")
    err = refused(lambda: api.webhooks.list(limit=101))
    assert err.status_code == 400
    assert err.body == envelope("Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 "
                                "instead.", "limit", "integer_above_max_value")
    err = refused(lambda: api.webhooks.list(extra_query={"limit": "ten"}))
    assert err.body == type_error("limit", "an integer", "a string")


# -- delete -------------------------------------------------------------------------------------------------------
def test_delete_and_then_nothing_finds_it(api: openai.OpenAI, receiver: WebhookReceiver) -> None:
    keep = new_endpoint(api, receiver.url, name="kept")
    e = new_endpoint(api, receiver.url)
    raw = api.webhooks.with_raw_response.delete(e.id)
    gone = raw.parse()
    assert type(gone) is DeletedWebhookEndpoint
    assert raw_json(raw) == {"id": e.id, "object": "webhook_endpoint.deleted", "deleted": True}
    for call in (lambda: api.webhooks.retrieve(e.id),
                 lambda: api.webhooks.update(e.id, name="x"),
                 lambda: api.webhooks.delete(e.id),
                 lambda: api.webhooks.rotate_secret(e.id),
                 lambda: api.webhooks.test(e.id, event_type="batch.completed")):
        err = refused(call, openai.NotFoundError)
        assert (err.status_code, err.body) == (404, not_found(e.id))
    assert [x.id for x in api.webhooks.list()] == [keep.id]
    assert receiver.deliveries == []  # the refused test sent nothing


# -- rotate_secret ------------------------------------------------------------------------------------------------
def test_rotate_secret_gives_a_new_one(mockbatch: MockBatchServer, api: openai.OpenAI,
                                       receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    mockbatch.advance(30)
    raw = api.webhooks.with_raw_response.rotate_secret(e.id)
    rotated = raw.parse()
    assert type(rotated) is WebhookEndpointWithSecret
    assert SECRET.fullmatch(rotated.signing_secret) and rotated.signing_secret != e.signing_secret
    expected = {"id": e.id, "object": "webhook_endpoint", "name": "hooks", "url": receiver.url,
                "event_types": ["batch.completed"], "signing_secret": rotated.signing_secret,
                "signing_secret_hint": f"whsec_...{rotated.signing_secret[-4:]}", "created_at": e.created_at,
                "updated_at": e.created_at + 30}
    assert raw_json(raw) == expected
    shown = {k: v for k, v in expected.items() if k != "signing_secret"}
    assert raw_json(api.webhooks.with_raw_response.retrieve(e.id)) == shown
    again = api.webhooks.rotate_secret(e.id, keep_old_secret_active_for_24_hours=False)
    assert len({e.signing_secret, rotated.signing_secret, again.signing_secret}) == 3


def test_rotation_without_overlap_retires_the_old_secret_at_once(api: openai.OpenAI,
                                                                 receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    rotated = api.webhooks.rotate_secret(e.id)
    api.webhooks.test(e.id, event_type="batch.completed")
    [delivery] = receiver.deliveries
    assert delivery.headers["webhook-signature"] == webhook_signature(rotated.signing_secret, delivery)
    assert isinstance(api.webhooks.unwrap(delivery.body, delivery.headers, secret=rotated.signing_secret),
                      BatchCompletedWebhookEvent)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        api.webhooks.unwrap(delivery.body, delivery.headers, secret=e.signing_secret)


def test_rotation_with_overlap_signs_with_both_for_a_day(mockbatch: MockBatchServer, api: openai.OpenAI,
                                                         receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    old = e.signing_secret
    rotated = api.webhooks.rotate_secret(e.id, keep_old_secret_active_for_24_hours=True)
    new = rotated.signing_secret
    assert new != old and rotated.signing_secret_hint == f"whsec_...{new[-4:]}"

    api.webhooks.test(e.id, event_type="batch.completed")
    [during] = receiver.deliveries
    assert during.headers["webhook-signature"] == f"{webhook_signature(new, during)} {webhook_signature(old, during)}"
    for secret in (old, new):
        event = api.webhooks.unwrap(during.body, during.headers, secret=secret)
        assert isinstance(event, BatchCompletedWebhookEvent)

    mockbatch.advance(DAY - 1)  # the last second of the overlap
    api.webhooks.test(e.id, event_type="batch.completed")
    last = receiver.wait(2)[1]
    assert last.headers["webhook-signature"] == f"{webhook_signature(new, last)} {webhook_signature(old, last)}"

    mockbatch.advance(1)  # 24 hours after the rotation: the old secret no longer signs
    api.webhooks.test(e.id, event_type="batch.completed")
    after = receiver.wait(3)[2]
    assert after.headers["webhook-signature"] == webhook_signature(new, after)
    assert verifies(api, after, new)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        api.webhooks.unwrap(after.body, after.headers, secret=old)


def test_a_second_rotation_replaces_the_overlap(api: openai.OpenAI, receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    first = e.signing_secret
    second = api.webhooks.rotate_secret(e.id, keep_old_secret_active_for_24_hours=True).signing_secret
    third = api.webhooks.rotate_secret(e.id, keep_old_secret_active_for_24_hours=True).signing_secret
    api.webhooks.test(e.id, event_type="batch.completed")
    [d] = receiver.deliveries
    # The first is gone.
    assert d.headers["webhook-signature"] == f"{webhook_signature(third, d)} {webhook_signature(second, d)}"
    assert [verifies(api, d, s) for s in (first, second, third)] == [False, True, True]
    fourth = api.webhooks.rotate_secret(e.id).signing_secret  # no overlap: it ends the one before too
    api.webhooks.test(e.id, event_type="batch.completed")
    d = receiver.wait(2)[1]
    assert d.headers["webhook-signature"] == webhook_signature(fourth, d)
    assert [verifies(api, d, s) for s in (first, second, third, fourth)] == [False, False, False, True]


def test_rotate_refuses_a_flag_that_is_not_a_boolean(api: openai.OpenAI, receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    for value, kind in (("yes", "a string"), (1, "an integer"), (None, "null")):
        err = refused(lambda value=value: api.webhooks.rotate_secret(
            e.id, keep_old_secret_active_for_24_hours=value))  # type: ignore[arg-type]
        assert err.status_code == 400
        assert err.body == type_error("keep_old_secret_active_for_24_hours", "a boolean", kind)
    err = refused(lambda: api.webhooks.rotate_secret(e.id, extra_body={"foo": 1}))
    assert err.body == envelope("Unrecognized request argument supplied: foo", "foo", "unknown_parameter")
    assert api.webhooks.retrieve(e.id).signing_secret_hint == f"whsec_...{e.signing_secret[-4:]}"  # not rotated


def test_rotate_an_unknown_id(api: openai.OpenAI) -> None:
    err = refused(lambda: api.webhooks.rotate_secret("we_x"), openai.NotFoundError)
    assert (err.status_code, err.body) == (404, not_found("we_x"))


# -- test ---------------------------------------------------------------------------------------------------------
def test_test_sends_a_signed_batch_event(mockbatch: MockBatchServer, api: openai.OpenAI,
                                         receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    mockbatch.advance(60)
    before = int(time.time())
    raw = api.webhooks.with_raw_response.test(e.id, event_type="batch.completed")
    after = int(time.time())
    result = raw.parse()
    assert type(result) is WebhookEndpointTestResult
    assert raw_json(raw) == {"object": "webhook_endpoint.test", "webhook_endpoint_id": e.id,
                             "event_type": "batch.completed", "status_code": 200, "success": True}
    assert set(raw_json(raw)) == set(WebhookEndpointTestResult.model_fields)

    [d] = receiver.deliveries  # sent within the request: nothing to wait for
    assert (d.method, d.path, d.status) == ("POST", "/webhook", 200)
    assert WEBHOOK_ID.fullmatch(d.headers["webhook-id"])
    assert before <= int(d.headers["webhook-timestamp"]) <= after  # real time, for the SDK's 5-minute tolerance
    assert (d.headers["content-type"], d.headers["user-agent"]) == ("application/json", USER_AGENT)
    assert d.headers["webhook-signature"] == webhook_signature(e.signing_secret, d)
    body = d.json()
    assert EVENT_ID.fullmatch(body["id"]) and re.fullmatch(r"batch_[0-9a-f]{32}", body["data"]["id"])
    at = now(mockbatch)
    assert body == {"object": "event", "id": body["id"], "type": "batch.completed", "created_at": at,
                    "data": {"id": body["data"]["id"]}}
    event = api.webhooks.unwrap(d.body, d.headers, secret=e.signing_secret)
    assert type(event) is BatchCompletedWebhookEvent
    assert (event.id, event.type, event.created_at, event.data.id) == (body["id"], "batch.completed", at,
                                                                       body["data"]["id"])

    assert mockbatch.deliveries() == [{
        "id": d.headers["webhook-id"], "event": body, "endpoint_id": e.id, "url": receiver.url,
        "tenant": mask_key(mockbatch.api_key), "status": "delivered", "test": True, "fault": None, "created_at": at,
        "attempts": [{"at": at, "status": 200, "error": None}], "next_attempt_at": None}]
    assert api.webhooks.retrieve(e.id).updated_at == e.created_at  # a test is no change to the endpoint


def test_test_sends_an_event_of_another_kind(mockbatch: MockBatchServer, api: openai.OpenAI,
                                             receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)  # subscribed to batch.completed only: a test may send any type
    result = api.webhooks.test(e.id, event_type="response.completed")
    assert result.model_dump() == {"object": "webhook_endpoint.test", "webhook_endpoint_id": e.id,
                                   "event_type": "response.completed", "status_code": 200, "success": True}
    [d] = receiver.deliveries
    event = api.webhooks.unwrap(d.body, d.headers, secret=e.signing_secret)
    assert type(event) is ResponseCompletedWebhookEvent
    assert event.type == "response.completed" and event.created_at == now(mockbatch)
    assert re.fullmatch(r"resp_[0-9a-f]{32}", event.data.id)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_sample_event_is_what_the_sdk_expects(api: openai.OpenAI, receiver: WebhookReceiver,
                                                    event_type: str) -> None:
    """Each type's sample, unwrapped, is the SDK's class for that type and validates against it (its required
    fields present), so that code written against the SDK's types can be tested with it."""
    e = new_endpoint(api, receiver.url)
    assert api.webhooks.test(e.id, event_type=event_type).event_type == event_type  # type: ignore[arg-type]
    [d] = receiver.deliveries
    body = d.json()
    assert (body["object"], body["type"]) == ("event", event_type)
    event = api.webhooks.unwrap(d.body, d.headers, secret=e.signing_secret)
    cls = SDK_EVENTS.get(event_type)
    if cls is None:  # video.*: types the SDK subscribes to but has no event class for
        assert event_type in ("video.completed", "video.failed")
        assert re.fullmatch(r"video_[0-9a-f]{32}", body["data"]["id"])
        return
    assert type(event) is cls
    cls.model_validate(body)  # strict: raises on a required field the sample lacks


def test_a_test_send_is_never_retried(mockbatch: MockBatchServer, api: openai.OpenAI,
                                      receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    receiver.respond(503)
    result = api.webhooks.test(e.id, event_type="batch.failed")
    assert result.model_dump() == {"object": "webhook_endpoint.test", "webhook_endpoint_id": e.id,
                                   "event_type": "batch.failed", "status_code": 503, "success": True}
    [d] = receiver.deliveries
    assert d.status == 503
    at = now(mockbatch)
    expected = [{"id": d.headers["webhook-id"], "event": d.json(), "endpoint_id": e.id, "url": receiver.url,
                 "tenant": mask_key(mockbatch.api_key), "status": "failed", "test": True, "fault": None,
                 "created_at": at, "attempts": [{"at": at, "status": 503, "error": "answered 503"}],
                 "next_attempt_at": None}]
    assert mockbatch.deliveries() == expected
    mockbatch.advance(3600)  # past several retry delays: still nothing more
    assert len(receiver.deliveries) == 1
    assert mockbatch.deliveries() == expected


def test_test_to_an_unreachable_url(mockbatch: MockBatchServer, api: openai.OpenAI) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    e = new_endpoint(api, url)
    err = refused(lambda: api.webhooks.test(e.id, event_type="batch.completed"))
    assert err.status_code == 400
    assert isinstance(err.body, dict)
    assert (err.body["type"], err.body["param"], err.body["code"]) == ("invalid_request_error", None,
                                                                       "webhook_test_failed")
    assert err.body["message"].startswith(f"Could not deliver the test event to {url}: ")
    [logged] = mockbatch.deliveries()
    assert (logged["endpoint_id"], logged["url"], logged["status"], logged["next_attempt_at"]) == (e.id, url,
                                                                                                   "failed", None)
    assert [a["status"] for a in logged["attempts"]] == [None]
    assert err.body["message"] == f"Could not deliver the test event to {url}: {logged['attempts'][0]['error']}."
    mockbatch.advance(3600)
    assert len(mockbatch.deliveries()[0]["attempts"]) == 1  # not retried either


def test_test_refusals(api: openai.OpenAI, receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    err = refused(lambda: api.webhooks.test(e.id, event_type="nope"))  # type: ignore[arg-type]
    assert (err.status_code, err.body) == (400, envelope(supported("nope"), "event_type", "invalid_value"))
    err = refused(lambda: api.post(f"/webhook_endpoints/{e.id}/test", body={}, cast_to=object))
    assert (err.status_code, err.body) == (400, envelope("Missing required parameter: 'event_type'.", "event_type",
                                                         "missing_required_parameter"))
    err = refused(lambda: api.webhooks.test(e.id, event_type=5))  # type: ignore[arg-type]
    assert (err.status_code, err.body) == (400, type_error("event_type", "a string", "an integer"))
    err = refused(lambda: api.webhooks.test(e.id, event_type="batch.completed", extra_body={"foo": 1}))
    assert (err.status_code, err.body) == (400, envelope("Unrecognized request argument supplied: foo", "foo",
                                                         "unknown_parameter"))
    err = refused(lambda: api.webhooks.test("we_x", event_type="batch.completed"), openai.NotFoundError)
    assert (err.status_code, err.body) == (404, not_found("we_x"))
    assert receiver.deliveries == []


# -- validation on create and update --------------------------------------------------------------------------------
GOOD = {"name": "hooks", "url": "https://example.com/hook", "event_types": ["batch.completed"]}

# (id, the body's fields over GOOD's, the refusal's envelope): each refused alike by create and update.
BAD_FIELDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("name-integer", {"name": 5}, type_error("name", "a string", "an integer")),
    ("url-array", {"url": []}, type_error("url", "a string", "an array")),
    ("event_types-string", {"event_types": "batch.completed"}, type_error("event_types", "an array", "a string")),
    ("event_types-object", {"event_types": {"batch.completed": True}},
     type_error("event_types", "an array", "an object")),
    ("event_types-item-integer", {"event_types": [1]}, type_error("event_types[0]", "a string", "an integer")),
    ("event_types-empty", {"event_types": []},
     envelope("Invalid 'event_types': empty array. Expected an array with minimum length 1, but got an empty array "
              "instead.", "event_types", "empty_array")),
    ("event_types-unknown-second", {"event_types": ["batch.completed", "nope"]},
     envelope(supported("nope"), "event_types[1]", "invalid_value")),
    ("name-empty", {"name": ""},
     envelope("Invalid 'name': empty string. Expected a string with minimum length 1, but got an empty string "
              "instead.", "name", "empty_string")),
    ("name-257", {"name": "n" * 257},
     envelope("Invalid 'name': string too long. Expected a string with maximum length 256, but got a string with "
              "length 257 instead.", "name", "string_above_max_length")),
    *[(f"url-{url!r}", {"url": url}, envelope(f"Invalid 'url': '{url}' {URL_SHAPE}.", "url", "invalid_url"))
      for url in ("ftp://x", "http://", "not a url", "http://a b", "https://a:99999/", "http://[::1/")],
    ("url-2049", {"url": "https://example.com/" + "x" * 2029},
     envelope(f"Invalid 'url': '{('https://example.com/' + 'x' * 2029)[:80]}...' must be at most 2048 characters.",
              "url", "invalid_url")),
    ("url-control-character", {"url": "https://example.com/\x07"},
     envelope(f"Invalid 'url': 'https://example.com/\\x07' {URL_SHAPE}.", "url", "invalid_url")),
    ("unknown-argument", {"foo": 1},
     envelope("Unrecognized request argument supplied: foo", "foo", "unknown_parameter")),
]


@pytest.mark.parametrize(("fields", "expected"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS])
def test_create_refuses(api: openai.OpenAI, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    err = refused(lambda: api.post("/webhook_endpoints", body={**GOOD, **fields}, cast_to=object))
    assert (err.status_code, err.body) == (400, expected)
    assert api.webhooks.list().data == []


@pytest.mark.parametrize(("fields", "expected"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS])
def test_update_refuses(mockbatch: MockBatchServer, api: openai.OpenAI, fields: dict[str, Any],
                        expected: dict[str, Any]) -> None:
    e = new_endpoint(api, GOOD["url"])
    before = api.webhooks.retrieve(e.id).model_dump()
    mockbatch.advance(5)
    err = refused(lambda: api.post(f"/webhook_endpoints/{e.id}", body=fields, cast_to=object))
    assert (err.status_code, err.body) == (400, expected)
    assert api.webhooks.retrieve(e.id).model_dump() == before  # untouched, updated_at too


def test_the_sdk_methods_send_the_same_refusals(api: openai.OpenAI) -> None:
    """The typed methods, given what their types forbid, meet the same refusals as the raw bodies above."""
    cases: list[tuple[Callable[[], Any], dict[str, Any]]] = [
        (lambda: api.webhooks.create(name=5, url=GOOD["url"], event_types=["batch.completed"]),  # type: ignore[arg-type]
         type_error("name", "a string", "an integer")),
        (lambda: api.webhooks.create(name="n", url=[], event_types=["batch.completed"]),  # type: ignore[arg-type]
         type_error("url", "a string", "an array")),
        (lambda: api.webhooks.create(name="n", url=GOOD["url"], event_types="batch.completed"),  # type: ignore[arg-type]
         type_error("event_types", "an array", "a string")),
        (lambda: api.webhooks.create(name="n", url=GOOD["url"], event_types=[1]),  # type: ignore[list-item]
         type_error("event_types[0]", "a string", "an integer")),
        (lambda: api.webhooks.create(name="n", url=GOOD["url"], event_types=["batch.completed"],
                                     extra_body={"foo": 1}),
         envelope("Unrecognized request argument supplied: foo", "foo", "unknown_parameter")),
    ]
    for call, expected in cases:
        err = refused(call)
        assert (err.status_code, err.body) == (400, expected)
    assert api.webhooks.list().data == []


@pytest.mark.parametrize("missing", ["name", "url", "event_types"])
def test_create_requires_every_field(api: openai.OpenAI, missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    err = refused(lambda: api.post("/webhook_endpoints", body=body, cast_to=object))
    assert (err.status_code, err.body) == (400, envelope(f"Missing required parameter: '{missing}'.", missing,
                                                         "missing_required_parameter"))
    assert (err.code, err.param) == ("missing_required_parameter", missing)


def test_limits_themselves_are_accepted(api: openai.OpenAI) -> None:
    url = "https://example.com/" + "x" * 2028  # 2048 characters
    e = api.webhooks.create(name="n" * 256, url=url, event_types=list(EVENT_TYPES))  # type: ignore[arg-type]
    assert (e.name, e.url, e.event_types) == ("n" * 256, url, list(EVENT_TYPES))
    assert api.webhooks.update(e.id, name="n").name == "n"
    assert api.webhooks.create(name="é ✓", url="http://localhost:1/", event_types=["batch.completed"]).name == "é ✓"


@pytest.mark.parametrize("url", ["http://💩.com/", "http://\uff41.com/", "http://[v1.x]/"])
def test_a_url_the_sender_cannot_use_is_refused(api: openai.OpenAI, url: str) -> None:
    """A host httpx cannot send to (not IDNA, not an IP literal) can never receive a delivery: refused at create,
    rather than accepted and then failing every send with a 500 (test) or a server error (a batch's event)."""
    err = refused(lambda: api.webhooks.create(name="n", url=url, event_types=["batch.completed"]))
    assert err.status_code == 400
    assert isinstance(err.body, dict)
    assert (err.body["type"], err.body["param"], err.body["code"]) == ("invalid_request_error", "url", "invalid_url")
    assert err.body["message"] == f"Invalid 'url': '{url}' {URL_SHAPE}."


@pytest.mark.parametrize("path", ["/webhook_endpoints", "/webhook_endpoints/{id}", "/webhook_endpoints/{id}/test",
                                  "/webhook_endpoints/{id}/rotate_secret"])
@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object(mockbatch: MockBatchServer, api: openai.OpenAI, path: str,
                                          content: bytes) -> None:
    e = new_endpoint(api, GOOD["url"])
    r = httpx.post(mockbatch.base_url + path.format(id=e.id), content=content, trust_env=False,
                   headers={"authorization": f"Bearer {mockbatch.api_key}", "content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": envelope(BAD_JSON)}


def test_every_operation_wants_a_key(mockbatch: MockBatchServer) -> None:
    for method, path in (("POST", "/webhook_endpoints"), ("GET", "/webhook_endpoints"),
                         ("GET", "/webhook_endpoints/we_x"), ("POST", "/webhook_endpoints/we_x"),
                         ("DELETE", "/webhook_endpoints/we_x"), ("POST", "/webhook_endpoints/we_x/rotate_secret"),
                         ("POST", "/webhook_endpoints/we_x/test"), ("GET", "/webhook_event_types")):
        r = httpx.request(method, mockbatch.base_url + path, json={} if method == "POST" else None, trust_env=False)
        assert r.status_code == 401, (method, path)
        assert r.json() == {"error": envelope("Missing bearer or basic authentication in header")}


# -- tenants ------------------------------------------------------------------------------------------------------
def test_another_tenant_cannot_see_or_touch_an_endpoint(tenants: tuple[openai.OpenAI, openai.OpenAI],
                                                        receiver: WebhookReceiver) -> None:
    a, b = tenants
    e = new_endpoint(a, receiver.url)
    before = a.webhooks.retrieve(e.id).model_dump()
    for call in (lambda: b.webhooks.retrieve(e.id),
                 lambda: b.webhooks.update(e.id, name="taken"),
                 lambda: b.webhooks.delete(e.id),
                 lambda: b.webhooks.rotate_secret(e.id),
                 lambda: b.webhooks.test(e.id, event_type="batch.completed")):
        err = refused(call, openai.NotFoundError)
        assert (err.status_code, err.body) == (404, not_found(e.id))
    assert b.webhooks.list().data == []
    assert [x.id for x in b.webhooks.list(after=e.id)] == []
    assert a.webhooks.retrieve(e.id).model_dump() == before  # unchanged, still A's
    assert [x.id for x in a.webhooks.list()] == [e.id]
    assert receiver.deliveries == []


def test_a_tenants_batch_notifies_only_its_own_endpoints(mockbatch: MockBatchServer,
                                                         tenants: tuple[openai.OpenAI, openai.OpenAI],
                                                         receiver: WebhookReceiver) -> None:
    a, b = tenants
    new_endpoint(a, receiver.url, event_types=tuple(EVENT_TYPES[:4]))
    with WebhookReceiver() as theirs:
        mine = new_endpoint(b, theirs.url)
        batch = start_batch(b, [chat_line(0), chat_line(1)])
        for _ in range(60):
            if b.batches.retrieve(batch.id).status == "completed":
                break
            mockbatch.advance(60)
        assert b.batches.retrieve(batch.id).status == "completed"
        [d] = theirs.wait(1, timeout=10)
        event = b.webhooks.unwrap(d.body, d.headers, secret=mine.signing_secret)
        assert type(event) is BatchCompletedWebhookEvent
        assert (event.type, event.data.id) == ("batch.completed", batch.id)
        mockbatch.advance(3600)  # anything still due is sent by the time advance returns
        assert len(theirs.deliveries) == 1
    assert receiver.deliveries == []  # A's endpoint: nothing of B's
    assert [(x["endpoint_id"], x["event"]["type"], x["status"]) for x in mockbatch.deliveries()] == [
        (mine.id, "batch.completed", "delivered")]


# -- event types, Azure, the journal ------------------------------------------------------------------------------
def test_event_types(api: openai.OpenAI) -> None:
    raw = api.webhooks.event_types.with_raw_response.list()
    listed = raw.parse()
    assert type(listed) is WebhookEventTypeList
    assert raw_json(raw) == {"object": "list", "data": list(EVENT_TYPES)}
    assert listed.data == list(EVENT_TYPES)
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)


def test_azure_has_no_webhook_endpoints(mockbatch: MockBatchServer) -> None:
    auth = {"api-key": "azure-key"}
    for method, path in (("POST", "/openai/v1/webhook_endpoints"), ("GET", "/openai/v1/webhook_endpoints"),
                         ("GET", "/openai/v1/webhook_event_types"),
                         ("POST", "/openai/webhook_endpoints?api-version=2025-04-01-preview")):
        body = GOOD if method == "POST" else None
        r = httpx.request(method, mockbatch.url + path, json=body, headers=auth, trust_env=False)
        assert r.status_code == 404, (method, path, r.text)


def test_the_journal_names_each_operation(mockbatch: MockBatchServer, api: openai.OpenAI,
                                          receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    api.webhooks.retrieve(e.id)
    api.webhooks.update(e.id, name="renamed")
    api.webhooks.list()
    api.webhooks.rotate_secret(e.id, keep_old_secret_active_for_24_hours=True)
    api.webhooks.test(e.id, event_type="response.completed")
    api.webhooks.event_types.list()
    api.webhooks.delete(e.id)
    refused(lambda: api.webhooks.retrieve(e.id), openai.NotFoundError)
    one = f"/v1/webhook_endpoints/{e.id}"
    assert [(x["operation"], x["method"], x["path"], x["status"]) for x in mockbatch.requests()] == [
        ("webhooks.create", "POST", "/v1/webhook_endpoints", 200),
        ("webhooks.retrieve", "GET", one, 200),
        ("webhooks.update", "POST", one, 200),
        ("webhooks.list", "GET", "/v1/webhook_endpoints", 200),
        ("webhooks.rotate_secret", "POST", f"{one}/rotate_secret", 200),
        ("webhooks.test", "POST", f"{one}/test", 200),
        ("webhooks.deliver", "POST", receiver.url, 200),  # the sample it sent
        ("webhooks.event_types.list", "GET", "/v1/webhook_event_types", 200),
        ("webhooks.delete", "DELETE", one, 200),
        ("webhooks.retrieve", "GET", one, 404),
    ]


def test_an_empty_after_and_null_fields_count_as_not_given(mockbatch: MockBatchServer, api: openai.OpenAI) -> None:
    e = new_endpoint(api, "https://example.com/hook")
    r = httpx.get(mockbatch.base_url + "/webhook_endpoints?after=",
                  headers={"authorization": f"Bearer {mockbatch.api_key}"}, trust_env=False)
    assert [x["id"] for x in r.json()["data"]] == [e.id]  # as /v1/batches?after= does
    err = refused(lambda: api.webhooks.create(name="n", url="https://example.com/", event_types=["batch.completed"],
                                              extra_body={"name": None}))
    assert err.body == envelope("Missing required parameter: 'name'.", "name", "missing_required_parameter")
    assert api.webhooks.update(e.id, extra_body={"url": None}).url == "https://example.com/hook"


def test_a_test_send_of_a_batch_type_names_no_batch_in_the_journal(mockbatch: MockBatchServer, api: openai.OpenAI,
                                                                   receiver: WebhookReceiver) -> None:
    e = new_endpoint(api, receiver.url)
    api.webhooks.test(e.id, event_type="batch.completed")
    [sent] = [x for x in mockbatch.requests() if x["operation"] == "webhooks.deliver"]
    assert sent["batch_id"] is None  # its sample batch does not exist
    assert receiver.deliveries[0].json()["data"]["id"].startswith("batch_")
