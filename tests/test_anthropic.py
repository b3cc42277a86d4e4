"""Anthropic's Message Batches on the same engine, through a real server and the official `anthropic` SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockbatch.server import MockBatchServer

anthropic = pytest.importorskip("anthropic")
pytest_plugins = ["pytester"]

KEY = "sk-ant-test"
WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string", "minLength": 2},
                                                             "days": {"type": "integer", "minimum": 1,
                                                                      "maximum": 7}},
                            "required": ["city", "days"], "additionalProperties": False}}


def client(server: MockBatchServer, key: str = KEY, retries: int = 0) -> Any:
    return anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=retries)


def request(custom_id: str, text: str = "Hello", **params: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": {"model": "claude-sonnet-4-5", "max_tokens": 1024,
                                               "messages": [{"role": "user", "content": text}], **params}}


def results(c: Any, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r.result for r in c.messages.batches.results(batch_id)}


def raw_results(server: MockBatchServer, batch_id: str, key: str = KEY) -> bytes:
    answer = httpx.get(f"{server.url}/v1/messages/batches/{batch_id}/results",
                       headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
    assert answer.status_code == 200, answer.text
    return answer.content


def test_create_poll_results_and_delete(server_factory) -> None:
    server = server_factory()
    c = client(server)
    requests = [request(f"r-{i}", f"Hello {i}") for i in range(3)]
    requests += [
        {"custom_id": "no-max-tokens", "params": {"model": "claude-sonnet-4-5",
                                                  "messages": [{"role": "user", "content": "x"}]}},
        request("no-such-model", model="claude-9"),
        request("forced-tool", model="claude-3-5-haiku-latest", tools=[WEATHER],
                tool_choice={"type": "tool", "name": "get_weather"}),
        request("thinking", model="claude-haiku-4-5", max_tokens=4096,
                thinking={"type": "enabled", "budget_tokens": 2048}),
        request("cut", model="claude-opus-4-1", max_tokens=3),
        request("thinking-unsupported", model="claude-3-5-haiku-latest", max_tokens=4096,
                thinking={"type": "enabled", "budget_tokens": 2048}),
    ]
    batch = c.messages.batches.create(requests=requests)
    assert batch.id.startswith("msgbatch_01") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None and batch.ended_at is None
    assert batch.request_counts.processing == len(requests)
    assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600
    with pytest.raises(anthropic.BadRequestError) as early:  # delete only once ended
        c.messages.batches.delete(batch.id)
    assert early.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "cancel it first" in early.value.body["error"]["message"]  # type: ignore[index]

    server.advance(60)
    batch = c.messages.batches.retrieve(batch.id)
    assert batch.processing_status == "ended" and batch.ended_at is not None
    assert batch.results_url == f"{server.url}/v1/messages/batches/{batch.id}/results"
    counts = batch.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (0, 6, 3, 0, 0)

    got = results(c, batch.id)
    assert set(got) == {r["custom_id"] for r in requests}
    for i in range(3):
        message = got[f"r-{i}"].message
        assert got[f"r-{i}"].type == "succeeded" and message.id.startswith("msg_01") and message.role == "assistant"
        assert message.model == "claude-sonnet-4-5-20250929" and message.stop_reason == "end_turn"
        assert message.content[0].type == "text" and message.content[0].text
        assert message.usage.service_tier == "batch" and message.usage.input_tokens > 0
        assert message.usage.cache_creation_input_tokens == 0 and message.usage.cache_read_input_tokens == 0
    bad = got["no-max-tokens"]
    assert bad.type == "errored" and bad.error.type == "error"
    assert (bad.error.error.type, bad.error.error.message) == ("invalid_request_error", "max_tokens: Field required")
    assert got["no-such-model"].error.error.type == "not_found_error"
    assert got["thinking-unsupported"].type == "errored"
    forced = got["forced-tool"].message
    assert forced.stop_reason == "tool_use" and [b.type for b in forced.content] == ["tool_use"]
    call = forced.content[0]
    assert call.name == "get_weather" and call.id.startswith("toolu_")
    assert set(call.input) == {"city", "days"} and len(call.input["city"]) >= 2 and 1 <= call.input["days"] <= 7
    thinking = got["thinking"].message
    assert thinking.content[0].type == "thinking" and thinking.content[0].signature
    assert thinking.model == "claude-haiku-4-5-20251001"
    cut = got["cut"].message
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens <= 3

    assert c.beta.messages.batches.retrieve(batch.id).processing_status == "ended"  # the beta namespace too
    deleted = c.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError) as gone:
        c.messages.batches.retrieve(batch.id)
    assert gone.value.response.headers["request-id"].startswith("req_")
    assert list(c.messages.batches.list()) == []


def test_create_refusals_and_auth(server_factory) -> None:
    server = server_factory()
    c = client(server)
    cases = [
        ([], "requests: List should have at least 1 item after validation, not 0"),
        ([request("has space")], "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"),
        ([request("x" * 65)], "requests.0.custom_id: String should have at most 64 characters"),
        ([request("a"), request("a")], "requests.1.custom_id: Duplicate custom_id 'a'"),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
    ]
    for requests, message in cases:
        with pytest.raises(anthropic.BadRequestError) as refused:
            c.messages.batches.create(requests=requests)
        body = refused.value.body
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        assert body["error"]["message"].startswith(message)  # type: ignore[index]
    assert list(c.messages.batches.list()) == []  # nothing was created
    answer = httpx.post(f"{server.url}/v1/messages/batches", json={"requests": [request("a")]},
                        headers={"anthropic-version": "2023-06-01"})
    assert answer.status_code == 401 and answer.json() == {
        "type": "error", "error": {"type": "authentication_error", "message": "x-api-key header is required"}}
    answer = httpx.post(f"{server.url}/v1/messages/batches", json={"requests": [request("a")]},
                        headers={"x-api-key": KEY})
    assert answer.status_code == 400 and answer.json()["error"]["message"] == "anthropic-version: header is required"
    answer = httpx.get(f"{server.url}/v1/messages/nope", headers={"x-api-key": KEY})
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found_error"
    bearer = anthropic.Anthropic(base_url=server.url, auth_token=KEY, max_retries=0)  # Authorization: Bearer
    assert bearer.messages.batches.create(requests=[request("a")]).id.startswith("msgbatch_")
    assert len(list(c.messages.batches.list())) == 1  # the same tenant either way


HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}


def many(n: int, params: str = '{"model":"claude-haiku-4-5","max_tokens":16,'
                                '"messages":[{"role":"user","content":"Hi"}]}') -> bytes:
    """A create body of `n` requests, made as text (the SDK would take seconds to build 100,000 of them)."""
    return ('{"requests":[' + ",".join(f'{{"custom_id":"r-{i}","params":{params}}}' for i in range(n)) + "]}").encode()


def test_a_batch_over_openais_50000_lines_runs(server_factory) -> None:
    """Anthropic allows 100,000 requests a batch: the engine's line limit is the endpoint's (catalog.Endpoint)."""
    server = server_factory(validating_seconds=0, request_seconds=0, finalizing_seconds=0)
    answer = httpx.post(f"{server.url}/v1/messages/batches", content=many(60_000), headers=HEADERS, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    batch_id = answer.json()["id"]
    server.advance(60)
    batch = client(server).messages.batches.retrieve(batch_id)
    assert batch.processing_status == "ended" and batch.request_counts.succeeded == 60_000
    lines = raw_results(server, batch_id).split(b"\n")
    assert len(lines) == 60_001 and lines[-1] == b""
    got = [json.loads(line) for line in lines[:-1]]
    assert {r["custom_id"] for r in got} == {f"r-{i}" for i in range(60_000)}
    assert {r["result"]["type"] for r in got} == {"succeeded"}


def test_more_than_100000_requests_are_refused(server_factory) -> None:
    server = server_factory()
    answer = httpx.post(f"{server.url}/v1/messages/batches", content=many(100_001, "{}"), headers=HEADERS, timeout=60)
    assert answer.status_code == 400 and answer.json() == {"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "requests: List should have at most 100000 items after validation, not 100001"}}
    assert list(client(server).messages.batches.list()) == []  # nothing was created


def test_list_pages_newest_first(server_factory) -> None:
    server = server_factory()
    c = client(server)
    made = [c.messages.batches.create(requests=[request(f"b{i}")]).id for i in range(5)]
    newest_first = made[::-1]
    assert [b.id for b in c.messages.batches.list(limit=2)] == newest_first  # the SDK follows has_more / last_id
    page = c.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == newest_first[:2] and page.has_more
    assert (page.first_id, page.last_id) == (newest_first[0], newest_first[1])
    page = c.messages.batches.list(limit=2, after_id=newest_first[1])
    assert [b.id for b in page.data] == newest_first[2:4] and page.has_more
    page = c.messages.batches.list(limit=2, before_id=newest_first[3])
    assert [b.id for b in page.data] == newest_first[1:3] and page.has_more
    page = c.messages.batches.list(limit=5, before_id=newest_first[3])
    assert [b.id for b in page.data] == newest_first[:3] and not page.has_more
    with pytest.raises(anthropic.BadRequestError):
        c.messages.batches.list(limit=1001)


def test_cancel_mid_flight_keeps_what_ran(server_factory) -> None:
    server = server_factory(request_seconds=10.0, output_order="input")
    c = client(server)
    batch = c.messages.batches.create(requests=[request(f"r-{i}") for i in range(10)])
    server.advance(1 + 35)  # validated, then about three requests run
    batch = c.messages.batches.cancel(batch.id)
    assert batch.processing_status == "canceling" and batch.cancel_initiated_at is not None
    assert batch.request_counts.processing == 10
    server.advance(60)
    batch = c.messages.batches.retrieve(batch.id)
    assert batch.processing_status == "ended"
    counts = batch.request_counts
    assert counts.succeeded > 0 and counts.canceled > 0 and counts.succeeded + counts.canceled == 10
    got = results(c, batch.id)
    kinds = [got[f"r-{i}"].type for i in range(10)]
    assert kinds.count("succeeded") == counts.succeeded and kinds.count("canceled") == counts.canceled
    assert c.messages.batches.cancel(batch.id).processing_status == "ended"  # a second cancel changes nothing
    done = c.messages.batches.create(requests=[request("z")])
    server.advance(3600)
    with pytest.raises(anthropic.BadRequestError):  # ended without a cancel: nothing left to cancel
        c.messages.batches.cancel(done.id)


def test_expiry_and_line_rules_from_scenarios(server_factory, tmp_path: Path) -> None:
    (tmp_path / "claude_rules.toml").write_text('''
description = "Every third request is rate limited."

[[lines]]
match = { every = 3 }
status = 429
''')
    server = server_factory(scenarios_dir=str(tmp_path))
    c = client(server)
    batch = c.messages.batches.create(requests=[request(f"r-{i}") for i in range(10)],
                                      extra_headers={"x-mockbatch-scenario": "expire_partial"})
    server.advance(24 * 3600 + 60)
    batch = c.messages.batches.retrieve(batch.id)
    counts = batch.request_counts
    assert batch.processing_status == "ended" and counts.expired == 5 and counts.succeeded == 5
    assert sorted(r.type for r in results(c, batch.id).values()) == ["expired"] * 5 + ["succeeded"] * 5

    batch = c.messages.batches.create(requests=[request(f"r-{i}") for i in range(9)],
                                      extra_headers={"x-mockbatch-scenario": "claude_rules"})
    server.advance(60)
    got = results(c, batch.id)
    errored = sorted(k for k, r in got.items() if r.type == "errored")
    assert errored == ["r-2", "r-5", "r-8"]
    assert got["r-2"].error.error.type == "rate_limit_error"
    assert c.messages.batches.retrieve(batch.id).request_counts.errored == 3


def test_a_429_on_create_is_retried_and_journaled(server_factory, tmp_path: Path) -> None:
    (tmp_path / "claude_429.toml").write_text('''
description = "Two 429s on messages.batches.create."

[[faults]]
name = "create-429"
operation = "messages.batches.create"
times = 2
status = 429
headers = { "retry-after-ms" = "10" }
''')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="claude_429")
    with pytest.raises(anthropic.RateLimitError) as limited:
        client(server).messages.batches.create(requests=[request("a")])
    headers = limited.value.response.headers
    assert headers["retry-after"] == "1" and headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert "anthropic-ratelimit-requests-reset" in headers and headers["request-id"].startswith("req_")
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    batch = client(server, retries=2).messages.batches.create(requests=[request("a")])
    seen = [(e["operation"], e["status"], e["fault"], e["retry_count"]) for e in server.requests()]
    create = "messages.batches.create"
    assert seen == [(create, 429, "create-429", 0), (create, 429, "create-429", 0), (create, 200, None, 1)]
    assert server.requests()[-1]["batch_id"] == batch.id


def test_openai_and_anthropic_tenants_never_meet(server_factory) -> None:
    server = server_factory()
    oa = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)  # the same key on both surfaces
    line = {"custom_id": "o", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
    f = oa.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch")
    openai_batch = oa.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    c = client(server)
    message_batch = c.messages.batches.create(requests=[request("a")])
    server.advance(60)
    assert [b.id for b in oa.batches.list()] == [openai_batch.id]
    assert not [x for x in oa.files.list() if "msgbatch" in x.filename]  # nor the Message Batch's internal files
    assert [b.id for b in c.messages.batches.list()] == [message_batch.id]
    with pytest.raises(openai.NotFoundError):
        oa.batches.retrieve(message_batch.id)
    with pytest.raises(anthropic.NotFoundError):
        c.messages.batches.retrieve(openai_batch.id)
    assert list(client(server, "sk-ant-other").messages.batches.list()) == []
    assert "claude-sonnet-4-5" not in {m.id for m in oa.models.list()}  # Claude models are not OpenAI's
    with pytest.raises(openai.BadRequestError):  # nor is the Messages endpoint
        oa.batches.create(input_file_id=f.id, endpoint="/v1/messages", completion_window="24h")  # type: ignore[arg-type]


def test_state_survives_a_restart(server_factory, tmp_path: Path) -> None:
    db = str(tmp_path / "state.sqlite3")
    first = server_factory(db=db)
    batch = client(first).messages.batches.create(requests=[request(f"r-{i}") for i in range(4)])
    first.stop()
    second = server_factory(db=db)
    c = client(second)
    assert c.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    second.advance(60)
    assert c.messages.batches.retrieve(batch.id).request_counts.succeeded == 4
    assert sorted(results(c, batch.id)) == [f"r-{i}" for i in range(4)]


def test_same_seed_same_results(server_factory) -> None:
    requests = [request(f"r-{i}", f"Question {i}", tools=[WEATHER]) for i in range(20)]
    answers = []
    for _ in range(2):
        server = server_factory(seed=11)
        batch = client(server).messages.batches.create(requests=requests)
        server.advance(60)
        answers.append((batch.id, raw_results(server, batch.id)))
    assert answers[0] == answers[1]
    lines = answers[0][1].decode().split("\n")
    assert lines[-1] == "" and all(line for line in lines[:-1])  # plain \n, no blank line
    assert {json.loads(line)["result"]["message"]["stop_reason"] for line in lines[:-1]} <= {"end_turn", "tool_use"}


def test_the_pytest_plugin_gives_an_anthropic_client(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_suite='''
def test_batch(mockbatch, mockbatch_anthropic_client):
    c = mockbatch_anthropic_client
    batch = c.messages.batches.create(requests=[{"custom_id": "a", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}}])
    mockbatch.advance(60)
    assert [r.result.type for r in c.messages.batches.results(batch.id)] == ["succeeded"]
''')
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
    pytester.makeconftest("import sys\nsys.modules['anthropic'] = None\n")  # as if it were not installed
    result = pytester.runpytest("-p", "no:randomly", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the anthropic package is not installed*"])


def test_a_stale_list_fault_applies_to_message_batches(server_factory, tmp_path: Path) -> None:
    (tmp_path / "stale.toml").write_text('description = "Stale."\n[[faults]]\noperation = "messages.batches.list"\n'
                                         'effect = "stale_list"\nseconds = 30\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="stale")
    c = client(server)
    batch = c.messages.batches.create(requests=[request("a")])
    server.advance(10)
    assert c.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert c.messages.batches.list().data[0].processing_status == "in_progress"  # the list lags 30 s behind
    server.advance(30)
    assert c.messages.batches.list().data[0].processing_status == "ended"
