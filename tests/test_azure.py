"""Azure OpenAI's batches on the same engine, through a real server and the official `openai.AzureOpenAI` client:
the classic `/openai/...` paths with `api-version`, and the `/openai/v1/...` paths without."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from mockbatch import lifecycle, validation
from mockbatch.lifecycle import Progress, Status, Validated
from mockbatch.plan import Plan
from mockbatch.server import MockBatchServer
from tests.conftest import START
from tests.helpers import chat_line, jsonl, strict_json

KEY = "azure-key-0123456789abcdef"
VERSION = "2024-10-21"


def azure(server: MockBatchServer, key: str = KEY, retries: int = 0, **kw: Any) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=server.url, api_key=key, api_version=VERSION, max_retries=retries, **kw)


def lines_of(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    return [] if file_id is None else [strict_json(line) for line in client.files.content(file_id).text.splitlines()]


def upload(client: openai.OpenAI, lines: list[Any]) -> Any:
    return client.files.create(file=("input.jsonl", jsonl(lines)), purpose="batch")


def test_the_whole_flow(server) -> None:
    c = azure(server)
    lines = [chat_line(i) for i in range(8)] + [chat_line(8, n=129)]  # n > 128: the line fails with a 400
    f = upload(c, lines)
    assert f.status == "processed" and f.purpose == "batch" and f.bytes == len(jsonl(lines))
    assert c.files.retrieve(f.id).id == f.id
    # Azure's documented create-time endpoint has no /v1 (the lines' url has): it stands for the /v1 endpoint
    batch = c.batches.create(input_file_id=f.id, endpoint="/chat/completions",  # type: ignore[arg-type]
                             completion_window="24h", metadata={"job": "azure"})
    assert batch.status == "validating" and batch.endpoint == "/v1/chat/completions"
    assert batch.metadata == {"job": "azure"} and batch.expires_at == START + 86_400
    seen = []
    for _ in range(20):
        server.advance(1)
        b = c.batches.retrieve(batch.id)
        seen.append(b.status)
        if b.status == "completed":
            break
    assert seen[0] in ("validating", "in_progress") and seen[-1] == "completed"
    assert b.request_counts is not None and (b.request_counts.total, b.request_counts.completed,
                                             b.request_counts.failed) == (9, 8, 1)
    out, err = lines_of(c, b.output_file_id), lines_of(c, b.error_file_id)
    assert sorted(line["custom_id"] for line in out) == sorted(f"request-{i}" for i in range(8))
    assert all(line["response"]["status_code"] == 200 for line in out)
    assert [line["custom_id"] for line in err] == ["request-8"]
    assert err[0]["response"]["status_code"] == 400
    assert {x.id for x in c.files.list().data} >= {f.id, b.output_file_id, b.error_file_id}
    assert c.files.delete(f.id).deleted is True
    with pytest.raises(openai.NotFoundError) as gone:
        c.files.retrieve(f.id)
    assert gone.value.body["code"] == "404" and "type" not in gone.value.body  # type: ignore[index,operator]


def test_a_deployment_name_is_a_model_name(server) -> None:
    """Lines name a deployment; the mock knows a deployment by the model name the catalog (or --models) has, and
    refuses an unknown one as Azure does, failing the batch with model_not_found."""
    c = azure(server)
    f = upload(c, [chat_line(0), chat_line(1, model="my-gpt4o-deployment")])
    batch = c.batches.create(input_file_id=f.id, endpoint="/chat/completions",  # type: ignore[arg-type]
                             completion_window="24h")
    server.advance(2)
    b = c.batches.retrieve(batch.id)
    assert b.status == "failed" and b.errors is not None and b.errors.data is not None
    assert [(e.code, e.line) for e in b.errors.data] == [("model_not_found", 2)]


def test_list_with_pagination_and_cancel_with_partial_results(server) -> None:
    c = azure(server)
    f = upload(c, [chat_line(i) for i in range(10)])
    made = [c.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
            for _ in range(5)]
    first = c.batches.list(limit=2)
    assert [b.id for b in first.data] == [b.id for b in reversed(made)][:2] and first.has_more
    assert [b.id for b in c.batches.list(limit=2)] == [b.id for b in reversed(made)]  # the SDK pages on its own

    server.advance(3)  # validating done at +1; 4 of 10 requests done at +3
    cancelling = c.batches.cancel(made[0].id)
    assert cancelling.status == "cancelling"
    server.advance(1)
    b = c.batches.retrieve(made[0].id)
    assert b.status == "cancelled" and b.request_counts is not None and b.request_counts.completed == 4
    assert len(lines_of(c, b.output_file_id)) == 4
    never = lines_of(c, b.error_file_id)
    assert len(never) == 6 and all(line["error"]["code"] == "batch_cancelled" for line in never)


def test_the_v1_paths_need_no_api_version(server) -> None:
    """`openai.OpenAI(base_url=".../openai/v1/")`, as Azure's v1 guide has it: the key as a bearer token, no
    api-version; the same tenant as `api-key` on the classic paths."""
    v1 = openai.OpenAI(base_url=f"{server.url}/openai/v1/", api_key=KEY, max_retries=0)
    f = upload(v1, [chat_line(0)])
    batch = v1.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert azure(server).batches.retrieve(batch.id).id == batch.id  # one Azure resource, two API styles
    answer = httpx.get(f"{server.url}/openai/v1/batches/{batch.id}", headers={"api-key": KEY})
    assert answer.status_code == 200 and answer.json()["id"] == batch.id


@pytest.mark.parametrize(("query", "code"), [("", "MissingApiVersionParameter"),
                                             ("?api-version=", "MissingApiVersionParameter"),
                                             ("?api-version=latest", "InvalidApiVersionParameter")])
def test_the_classic_paths_refuse_a_missing_or_bad_api_version(server, query: str, code: str) -> None:
    answer = httpx.get(f"{server.url}/openai/batches{query}", headers={"api-key": KEY})
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"} and body["error"]["code"] == code
    assert answer.headers["apim-request-id"] == answer.headers["x-request-id"]


def test_azure_errors_through_the_sdk(server) -> None:
    no_version = openai.OpenAI(base_url=f"{server.url}/openai", api_key=KEY, max_retries=0,
                               default_headers={"api-key": KEY})
    with pytest.raises(openai.BadRequestError) as refused:
        no_version.batches.list()
    assert refused.value.code == "MissingApiVersionParameter"
    assert "api-version" in refused.value.body["message"]  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as missing:
        azure(server).batches.retrieve("batch_nope")
    assert missing.value.code == "batch_not_found"  # the engine's own code, kept in Azure's envelope
    assert set(missing.value.body) == {"code", "message"}  # type: ignore[arg-type]
    answer = httpx.get(f"{server.url}/openai/batches", params={"api-version": VERSION})  # no key
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "401"
    assert "missing subscription key" in answer.json()["error"]["message"]
    unrouted = httpx.get(f"{server.url}/openai/nowhere", params={"api-version": VERSION}, headers={"api-key": KEY})
    assert unrouted.status_code == 404
    assert unrouted.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_only_the_servers_keys_are_let_in(server_factory) -> None:
    server = server_factory(api_keys=[KEY])
    assert azure(server).batches.list().data == []
    with pytest.raises(openai.AuthenticationError) as refused:
        azure(server, key="other-key").batches.list()
    assert refused.value.code == "401" and "invalid subscription key" in str(refused.value.message)
    token = openai.AzureOpenAI(azure_endpoint=server.url, azure_ad_token=KEY, api_version=VERSION, max_retries=0)
    assert token.batches.list().data == []  # a bearer token is let in as a key


def test_a_429_fault_is_retried_and_journaled(server_factory, tmp_path) -> None:
    (tmp_path / "busy.toml").write_text(
        'description = "Busy."\n[[faults]]\nname = "create-429"\noperation = "batches.create"\nstatus = 429\n'
        'times = 2\nheaders = { "retry-after-ms" = "10" }\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="busy")
    c = azure(server, retries=3)
    f = upload(c, [chat_line(0)])
    batch = c.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    attempts = [e for e in server.requests() if e["operation"] == "batches.create"]
    assert [(e["status"], e["retry_count"], e["fault"]) for e in attempts] == [
        (429, 0, "create-429"), (429, 1, "create-429"), (200, 2, None)]
    assert attempts[-1]["batch_id"] == batch.id and attempts[-1]["file_id"] == f.id
    assert all(e["path"] == "/openai/batches" and e["tenant"] == "azure-...cdef" for e in attempts)

    server.reset()  # the fault's count starts afresh: its answer in Azure's envelope
    raw = httpx.post(f"{server.url}/openai/batches", params={"api-version": VERSION}, headers={"api-key": KEY},
                     json={})
    assert raw.status_code == 429 and raw.headers["retry-after"] == "1"
    assert raw.json()["error"]["code"] == "429" and "rate limit" in raw.json()["error"]["message"]
    openai_raw = httpx.post(f"{server.url}/v1/batches", headers={"authorization": f"Bearer {KEY}"}, json={})
    assert openai_raw.status_code == 429  # the same fault on OpenAI's surface, in OpenAI's envelope
    assert openai_raw.json()["error"]["code"] == "rate_limit_exceeded"


def test_tenants_are_apart_from_openai_and_anthropic(server) -> None:
    c = azure(server)
    f = upload(c, [chat_line(0)])
    batch = c.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    same_key = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    assert same_key.files.list().data == [] and same_key.batches.list().data == []
    with pytest.raises(openai.NotFoundError):
        same_key.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        same_key.files.retrieve(f.id)
    mine = upload(same_key, [chat_line(1)])
    assert [x.id for x in c.files.list().data] == [f.id]
    with pytest.raises(openai.NotFoundError):
        c.files.content(mine.id)
    other = azure(server, key="another-azure-key")
    assert other.batches.list().data == [] and other.files.list().data == []
    answer = httpx.get(f"{server.url}/v1/messages/batches",
                       headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})
    assert answer.status_code == 200 and answer.json()["data"] == []


def test_a_chunked_upload(server, tmp_path) -> None:
    c = azure(server)
    path = tmp_path / "input.jsonl"
    path.write_bytes(jsonl([chat_line(i) for i in range(20)]))
    done = c.uploads.upload_file_chunked(file=path, mime_type="application/jsonl", purpose="batch", part_size=300)
    f = done.file
    assert done.status == "completed" and f is not None and f.bytes == path.stat().st_size
    assert c.files.content(f.id).content == path.read_bytes()
    journal = [e["operation"] for e in server.requests()]
    assert journal[0] == "uploads.create" and "uploads.parts.create" in journal
    assert journal[-2:] == ["uploads.complete", "files.content"]


# -- Azure's own rules: the 24 h window, limits, the empty error file, file expiry -----------------------------------

def openai_client(server: MockBatchServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def test_an_azure_batch_is_never_expired_at_its_window(server_factory) -> None:
    """Azure: "we don't expire the jobs that take longer". Two lines of 60,000 s each run past 24 h; the Azure batch
    completes (its expires_at still says created_at + 24 h), OpenAI's expires with the line that ran."""
    server = server_factory(request_seconds=60_000)
    c, o = azure(server), openai_client(server)
    on_azure = c.batches.create(input_file_id=upload(c, [chat_line(0), chat_line(1)]).id,
                                endpoint="/chat/completions", completion_window="24h")  # type: ignore[arg-type]
    on_openai = o.batches.create(input_file_id=upload(o, [chat_line(0), chat_line(1)]).id,
                                 endpoint="/v1/chat/completions", completion_window="24h")
    assert on_azure.expires_at == on_openai.expires_at == START + 86_400
    server.advance(86_401)
    b = c.batches.retrieve(on_azure.id)
    assert b.status == "in_progress" and b.expires_at == START + 86_400 and b.expired_at is None
    expired = o.batches.retrieve(on_openai.id)
    assert expired.status == "expired" and expired.request_counts is not None
    assert expired.request_counts.completed == 1
    server.advance(120_001 - 86_401 + 1)  # both lines done at 1 + 120,000; finalizing takes 1 s
    b = c.batches.retrieve(on_azure.id)
    assert b.status == "completed" and b.expired_at is None and b.request_counts is not None
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (2, 2, 0)
    assert len(lines_of(c, b.output_file_id)) == 2


def test_an_explicit_expire_fraction_still_expires_an_azure_batch() -> None:
    """Only the window is Azure's to ignore: a scenario that asks for expiry (`expire_fraction`) still gets it."""
    progress = Progress(created=0.0, in_progress=1.0, validated=Validated(4, "gpt-4o-mini", []))
    late = lifecycle.next_step(Status.IN_PROGRESS, progress, Plan(per_request=60_000.0, flavour="azure"), 2.0)
    assert late is not None and late.to == Status.FINALIZING and late.at == 240_001.0
    scripted = Plan(per_request=1.0, expire_fraction=0.5, flavour="azure")
    step = lifecycle.next_step(Status.IN_PROGRESS, progress, scripted, 2.0)
    assert step is not None and step.to == Status.EXPIRED and step.output == lifecycle.OutputKey(2, "expired")


def test_azure_takes_up_to_100000_requests(server) -> None:
    """60,000 lines (past OpenAI's 50,000) pass Azure's validation; 100,001 do not (checked on the Collector: a
    file that size through the server would take long)."""
    c = azure(server)
    tiny = [{"custom_id": str(i), "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "gpt-4o-mini", "messages": []}} for i in range(60_000)]
    batch = c.batches.create(input_file_id=upload(c, tiny).id, endpoint="/chat/completions",  # type: ignore[arg-type]
                             completion_window="24h")
    for _ in range(100):
        server.advance(1)
        b = c.batches.retrieve(batch.id)
        if b.status != "validating":
            break
    assert b.status == "in_progress" and b.request_counts is not None and b.request_counts.total == 60_000

    lines = [b'{"custom_id": "%d", "method": "POST", "url": "/v1/chat/completions", '
             b'"body": {"model": "gpt-4o-mini", "messages": []}}' % i for i in range(100_001)]
    too_many = validation.validate(lines, "/v1/chat/completions", keep_bodies=False, flavour="azure")
    assert too_many.errors == [{
        "code": "too_many_tasks", "param": None, "line": None,
        "message": "The number of requests in the input file exceeds the maximum allowed value of 100,000."}]
    assert validation.validate(lines[:100_000], "/v1/chat/completions", keep_bodies=False, flavour="azure").ok
    assert validation.validate(lines[:50_001], "/v1/chat/completions", keep_bodies=False).errors[0]["code"] == (
        "too_many_tasks")  # OpenAI's 50,000 unchanged


def test_two_deployments_in_one_batch_is_model_mismatch(server) -> None:
    lines = [chat_line(0), chat_line(1, model="gpt-4o")]
    c, o = azure(server), openai_client(server)
    made = [(c, c.batches.create(input_file_id=upload(c, lines).id, endpoint="/v1/chat/completions",
                                 completion_window="24h")),
            (o, o.batches.create(input_file_id=upload(o, lines).id, endpoint="/v1/chat/completions",
                                 completion_window="24h"))]
    server.advance(2)
    errors = []
    for client, batch in made:
        b = client.batches.retrieve(batch.id)
        assert b.status == "failed" and b.errors is not None and b.errors.data is not None
        errors.append([(e.code, e.line, e.param, e.message) for e in b.errors.data])
    assert errors[0] == [("model_mismatch", 2, "body.model",
                          "The deployment 'gpt-4o' for this request does not match the rest of the batch. "
                          "Each batch must contain requests for a single deployment.")]
    assert [e[0] for e in errors[1]] == ["mismatched_model"]  # OpenAI's code on OpenAI's path


def test_a_successful_azure_batch_has_an_empty_error_file(server) -> None:
    c, o = azure(server), openai_client(server)
    lines = [chat_line(0), chat_line(1)]
    on_azure = c.batches.create(input_file_id=upload(c, lines).id, endpoint="/v1/chat/completions",
                                completion_window="24h")
    on_openai = o.batches.create(input_file_id=upload(o, lines).id, endpoint="/v1/chat/completions",
                                 completion_window="24h")
    server.advance(10)
    b = c.batches.retrieve(on_azure.id)
    assert b.status == "completed" and b.request_counts is not None and b.request_counts.failed == 0
    assert b.output_file_id is not None and b.error_file_id is not None
    assert c.files.content(b.error_file_id).content == b"" and c.files.retrieve(b.error_file_id).bytes == 0
    assert c.files.retrieve(b.error_file_id).purpose == "batch_output"
    plain = o.batches.retrieve(on_openai.id)
    assert plain.status == "completed" and plain.error_file_id is None  # OpenAI's: no error file when none failed


@pytest.mark.parametrize(("seconds", "accepted"), [(7_200, False), (1_209_599, False), (1_209_600, True),
                                                    (2_592_000, True), (2_592_001, False)])
def test_file_expiry_is_14_to_30_days_on_azure(server, seconds: int, accepted: bool) -> None:
    c = azure(server)
    expires = {"anchor": "created_at", "seconds": seconds}
    if accepted:
        f = c.files.create(file=("input.jsonl", jsonl([chat_line(0)])), purpose="batch",
                           expires_after=expires)  # type: ignore[arg-type]
        assert f.expires_at == f.created_at + seconds
    else:
        with pytest.raises(openai.BadRequestError) as refused:
            c.files.create(file=("input.jsonl", jsonl([chat_line(0)])), purpose="batch",
                           expires_after=expires)  # type: ignore[arg-type]
        assert refused.value.code == "invalid_value"
        assert set(refused.value.body) == {"code", "message", "param"}  # type: ignore[arg-type]
        assert refused.value.body["message"] == (  # type: ignore[index]
            f"Invalid 'expires_after.seconds': expected a value between 1209600 and 2592000, but got {seconds} "
            "instead.")
        assert c.files.list().data == []
    if seconds <= 2_592_000:  # OpenAI's range is 1 hour to 30 days
        f = openai_client(server).files.create(file=("input.jsonl", jsonl([chat_line(0)])), purpose="batch",
                                               expires_after=expires)  # type: ignore[arg-type]
        assert f.expires_at == f.created_at + seconds
