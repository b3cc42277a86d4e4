"""The whole batch lifecycle through a real server and the official SDK."""

from __future__ import annotations

import re
import time

import httpx
import openai
import pytest
from openai.types import Batch

from tests.conftest import START
from tests.helpers import assert_every_field, chat_line, read_jsonl, start_batch, upload

BATCH_ID = re.compile(r"^batch_[0-9a-f]{32}$")
BATCH_REQ_ID = re.compile(r"^batch_req_[0-9a-f]{32}$")


def raw_batch(server, batch_id: str, key: str = "sk-test") -> dict:
    r = httpx.get(f"{server.base_url}/batches/{batch_id}", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200
    return r.json()


def test_create_response_has_every_field(server, client: openai.OpenAI) -> None:
    batch = start_batch(client, [chat_line(i) for i in range(3)], metadata={"job": "nightly"})
    assert BATCH_ID.match(batch.id)
    assert int(batch.id[6:14], 16) == START  # the first 8 hex are the creation time
    assert_every_field(batch, Batch)
    body = raw_batch(server, batch.id)
    assert body == {
        "id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions", "model": None, "errors": None,
        "input_file_id": batch.input_file_id, "completion_window": "24h", "status": "validating",
        "output_file_id": None, "error_file_id": None, "created_at": START, "in_progress_at": None,
        "expires_at": START + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
        "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "usage": {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 0,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0},
        "metadata": {"job": "nightly"},
    }
    Batch.model_validate(body)


def test_every_phase_with_growing_counts(server, client: openai.OpenAI) -> None:
    batch = start_batch(client, [chat_line(i) for i in range(10)])
    seen = []
    for _ in range(16):
        server.advance(0.5)
        b = client.batches.retrieve(batch.id)
        assert_every_field(b, Batch)
        seen.append((b.status, b.request_counts.completed))
    statuses = [s for s, _ in seen]
    assert statuses[0] == "validating"
    assert statuses.index("in_progress") < statuses.index("finalizing") < statuses.index("completed")
    progress = [c for s, c in seen if s == "in_progress"]
    assert progress == sorted(progress) and progress[0] < 10 and len(set(progress)) > 3
    b = client.batches.retrieve(batch.id)
    # 1 s validating, 10 x 0.5 s of requests, 1 s finalizing: every stamp exactly on schedule
    assert (b.in_progress_at, b.finalizing_at, b.completed_at) == (START + 1, START + 6, START + 7)
    assert b.model == "gpt-4o-mini-2024-07-18"
    assert b.request_counts.model_dump() == {"total": 10, "completed": 10, "failed": 0}
    assert b.error_file_id is None and b.errors is None
    assert (b.failed_at, b.expired_at, b.cancelling_at, b.cancelled_at) == (None, None, None, None)

    lines = read_jsonl(client, b.output_file_id)
    assert sorted(line["custom_id"] for line in lines) == sorted(f"request-{i}" for i in range(10))
    assert [line["custom_id"] for line in lines] != [f"request-{i}" for i in range(10)]  # not input order
    usage = {"input": 0, "output": 0}
    for line in lines:
        assert BATCH_REQ_ID.match(line["id"])
        assert line["error"] is None
        assert line["response"]["status_code"] == 200
        assert re.fullmatch(r"[0-9a-f]{32}", line["response"]["request_id"])
        body = openai.types.chat.ChatCompletion.model_validate(line["response"]["body"])
        assert body.model == "gpt-4o-mini-2024-07-18"
        assert body.usage is not None
        usage["input"] += body.usage.prompt_tokens
        usage["output"] += body.usage.completion_tokens
    assert b.usage is not None
    assert (b.usage.input_tokens, b.usage.output_tokens) == (usage["input"], usage["output"])
    assert b.usage.total_tokens == usage["input"] + usage["output"]

    out = client.files.retrieve(b.output_file_id)
    assert out.purpose == "batch_output" and out.status == "processed"
    assert out.filename == f"batch_{b.id.removeprefix('batch_')}_output.jsonl"
    assert out.created_at == b.completed_at and out.expires_at == out.created_at + 30 * 86400


def test_input_order_option(server_factory) -> None:
    server = server_factory(output_order="input")
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    batch = start_batch(client, [chat_line(i) for i in range(10)])
    server.advance(60)
    lines = read_jsonl(client, client.batches.retrieve(batch.id).output_file_id)
    assert [line["custom_id"] for line in lines] == [f"request-{i}" for i in range(10)]


def test_expiry_keeps_partial_results(server_factory) -> None:
    server = server_factory(request_seconds=10_000)  # 10 requests need 100,000 s > the 24 h window
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    batch = start_batch(client, [chat_line(i) for i in range(10)])
    server.advance(86_400)
    b = client.batches.retrieve(batch.id)
    assert b.status == "expired"
    assert b.expired_at == START + 86_400 and b.finalizing_at is None and b.completed_at is None
    done = (86_400 - 1) // 10_000  # lines finished before the window closed
    assert b.request_counts.model_dump() == {"total": 10, "completed": done, "failed": 0}
    ok = read_jsonl(client, b.output_file_id)
    expired = read_jsonl(client, b.error_file_id)
    assert len(ok) == done and len(expired) == 10 - done
    assert {line["custom_id"] for line in ok} | {line["custom_id"] for line in expired} == {
        f"request-{i}" for i in range(10)}
    for line in expired:
        assert line["response"] is None
        assert line["error"] == {"code": "batch_expired",
                                 "message": "This request could not be executed before the completion window expired."}
    assert b.usage is not None and b.usage.output_tokens > 0


def test_cancel_midway_keeps_partial_results(server, client: openai.OpenAI) -> None:
    batch = start_batch(client, [chat_line(i) for i in range(10)])
    server.advance(3)  # validating done at +1; 4 of 10 requests done at +3
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at == START + 3
    assert cancelling.request_counts.model_dump() == {"total": 10, "completed": 4, "failed": 0}
    assert cancelling.output_file_id is None and cancelling.cancelled_at is None
    assert client.batches.cancel(batch.id).status == "cancelling"  # idempotent
    server.advance(1)
    b = client.batches.retrieve(batch.id)
    assert b.status == "cancelled" and b.cancelled_at == START + 4
    assert b.request_counts.model_dump() == {"total": 10, "completed": 4, "failed": 0}
    assert len(read_jsonl(client, b.output_file_id)) == 4
    never = read_jsonl(client, b.error_file_id)
    assert len(never) == 6
    assert all(line["error"]["code"] == "batch_cancelled" and line["response"] is None for line in never)
    assert client.batches.cancel(batch.id).status == "cancelled"


def test_cancel_while_validating(server, client: openai.OpenAI) -> None:
    batch = start_batch(client, [chat_line(i) for i in range(3)])
    b = client.batches.cancel(batch.id)
    assert b.status == "cancelling" and b.in_progress_at is None
    server.advance(1)
    b = client.batches.retrieve(batch.id)
    assert b.status == "cancelled"
    assert (b.output_file_id, b.error_file_id, b.in_progress_at) == (None, None, None)
    assert b.request_counts.model_dump() == {"total": 0, "completed": 0, "failed": 0}


@pytest.mark.parametrize("final", ["completed", "failed", "expired"])
def test_cancel_terminal_batch_is_409(server_factory, final: str) -> None:
    server = server_factory(request_seconds=10_000 if final == "expired" else 0.5)
    client = openai.OpenAI(base_url=server.base_url, api_key="k")  # default retries: the header stops them
    lines = [chat_line(i) for i in range(10)] if final != "failed" else [{"method": "POST"}]
    batch = start_batch(client, lines)
    server.advance(86_400)
    assert client.batches.retrieve(batch.id).status == final
    with pytest.raises(openai.ConflictError) as err:
        client.batches.cancel(batch.id)
    assert err.value.status_code == 409
    assert err.value.response.headers["x-should-retry"] == "false"
    assert err.value.body == {"message": f"Cannot cancel a batch with status '{final}'.",
                              "type": "invalid_request_error", "param": None, "code": None}


def test_validation_failure_reports_every_bad_line(server, client: openai.OpenAI) -> None:
    good = chat_line(0)
    lines = [
        {k: v for k, v in chat_line(1).items() if k != "custom_id"},
        "{not json",
        {**chat_line(2), "url": "/v1/embeddings"},
        good,
        {**chat_line(3), "custom_id": "request-0"},
        {**chat_line(4), "body": {"messages": []}},
        {k: v for k, v in chat_line(5).items() if k != "method"},
        {k: v for k, v in chat_line(6).items() if k != "url"},
        {k: v for k, v in chat_line(7).items() if k != "body"},
    ]
    batch = start_batch(client, lines)
    server.advance(1)
    b = client.batches.retrieve(batch.id)
    assert b.status == "failed" and b.failed_at == START + 1 and b.in_progress_at is None
    assert b.model is None and b.output_file_id is None and b.error_file_id is None
    assert b.errors is not None and b.errors.object == "list"
    assert [e.model_dump() for e in b.errors.data] == [
        {"code": "missing_required_parameter", "message": "Missing required parameter: 'custom_id'.",
         "param": "custom_id", "line": 1},
        {"code": "invalid_json_line", "message": "This line is not parseable as valid JSON.", "param": None,
         "line": 2},
        {"code": "invalid_url", "message": "The URL provided for this request does not match the batch endpoint.",
         "param": "url", "line": 3},
        {"code": "duplicate_custom_id",
         "message": "The custom_id 'request-0' for this request is a duplicate of another request. "
                    "The custom_id parameter must be unique for each request in a batch.",
         "param": "custom_id", "line": 5},
        {"code": "invalid_request", "message": "Model parameter is required.", "param": "body.model", "line": 6},
        {"code": "missing_required_parameter", "message": "Missing required parameter: 'method'.",
         "param": "method", "line": 7},
        {"code": "missing_required_parameter", "message": "Missing required parameter: 'url'.", "param": "url",
         "line": 8},
        {"code": "missing_required_parameter", "message": "Missing required parameter: 'body'.", "param": "body",
         "line": 9},
    ]


def test_missing_input_file_fails_the_batch(server, client: openai.OpenAI) -> None:
    b = client.batches.create(input_file_id="file-doesnotexist", endpoint="/v1/chat/completions",
                              completion_window="24h")
    assert b.status == "validating"
    server.advance(1)
    b = client.batches.retrieve(b.id)
    assert b.status == "failed"
    assert b.errors is not None
    assert [e.model_dump() for e in b.errors.data] == [{
        "code": "invalid_request", "param": "file_id", "line": None,
        "message": "Cannot find file file-doesnotexist, or organization org-mockbatch does not have access to it."}]


def test_unknown_batch_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.batches.retrieve("batch_0123456789abcdef0123456789abcdef")
    assert err.value.body == {"message": "No batch found with id 'batch_0123456789abcdef0123456789abcdef'.",
                              "type": "invalid_request_error", "param": None, "code": "batch_not_found"}
    with pytest.raises(openai.NotFoundError):
        client.batches.cancel("batch_nope")


def test_list_newest_first_with_cursor(server, client: openai.OpenAI) -> None:
    f = upload(client, [chat_line(0)])
    ids = [client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                 completion_window="24h").id for _ in range(5)]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    assert [b.id for b in client.batches.list(limit=2).iter_pages().__next__().data] == ids[::-1][:2]
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]  # the SDK's auto-pagination
    page = httpx.get(f"{server.base_url}/batches", params={"after": ids[1]},
                     headers={"authorization": "Bearer sk-test"}).json()
    assert page["data"][0]["id"] == ids[0] and page["first_id"] == ids[0] and page["last_id"] == ids[0]
    assert page["has_more"] is False and page["object"] == "list"
    assert len(client.batches.list().data) == 5  # default limit 20
    for limit in (0, 101, "x"):
        r = httpx.get(f"{server.base_url}/batches", params={"limit": limit},
                      headers={"authorization": "Bearer sk-test"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "limit"


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        ({"endpoint": "/v1/chat/completions", "completion_window": "24h"},
         "Missing required parameter: 'input_file_id'.", "input_file_id", "missing_required_parameter"),
        ({"input_file_id": "file-x", "endpoint": "/v1/invalid/endpoint", "completion_window": "24h"},
         "Invalid value: '/v1/invalid/endpoint'. Supported values are: '/v1/chat/completions', '/v1/completions', "
         "'/v1/embeddings', '/v1/responses', '/v1/moderations', '/v1/images/generations', '/v1/images/edits', "
         "and '/v1/videos'.", "endpoint", "invalid_value"),
        ({"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "completion_window": "1h"},
         "Invalid value: '1h'. Supported values are: '24h'.", "completion_window", "invalid_value"),
        ({"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "completion_window": "24h",
          "metadata": {"tags": ["a"]}},
         "Invalid type for 'metadata.tags': expected a string, but got an array instead.", "metadata.tags",
         "invalid_type"),
    ],
)
def test_create_rejects_bad_parameters(server, body: dict, message: str, param: str, code: str) -> None:
    r = httpx.post(f"{server.base_url}/batches", json=body, headers={"authorization": "Bearer sk-test"})
    assert r.status_code == 400
    assert r.json() == {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                  "code": code}}


@pytest.mark.mockbatch(clock="real", validating_seconds=0, request_seconds=0.01, workers=0)
def test_a_forced_expiry_on_the_real_clock_lands_at_once(mockbatch, mockbatch_client: openai.OpenAI) -> None:
    """Lines keep running while the expiry's output is written; the batch still expires with the lines run when
    it was asked for, not once all 3,000 (30 s) have run."""
    batch = start_batch(mockbatch_client, [chat_line(i) for i in range(3000)])
    while mockbatch_client.batches.retrieve(batch.id).status != "in_progress":
        pass
    mockbatch.control("POST", f"/batches/{batch.id}/transition", {"to": "expired"})  # answers as its output runs
    deadline = time.monotonic() + 5
    while (done := mockbatch_client.batches.retrieve(batch.id)).status != "expired" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert done.status == "expired"
    assert done.request_counts is not None and done.request_counts.completed + done.request_counts.failed < 3000
