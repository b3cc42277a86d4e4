"""Scripted scenarios through a real server and the official SDK: every bundled file, selection, progression,
outcomes, line rules, API faults and the request journal."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import httpx
import openai
import pytest
from click.testing import CliRunner

from mockbatch import cli, events
from mockbatch.scenarios import DEFAULT, ScenarioBook, ScenarioError, WebhookFault, parse
from mockbatch.traffic import Traffic
from tests.helpers import chat_line, read_jsonl, start_batch, upload

BUNDLED = sorted(p.stem for p in (Path(__file__).parent.parent / "scenarios").glob("*.toml"))


def sdk(server, **kw) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", **kw)


def journal(server) -> list[dict]:
    return httpx.get(f"{server.url}/_mockbatch/requests").json()["data"]


def run_to_end(server, client, batch_id: str, step: float = 60, rounds: int = 200):
    for _ in range(rounds):
        b = client.batches.retrieve(batch_id)
        if b.status in ("completed", "failed", "expired", "cancelled"):
            return b
        server.advance(step)
    raise AssertionError(f"batch did not finish: {b.status}")


def test_every_bundled_file_loads_and_is_listed(server) -> None:
    assert len(BUNDLED) >= 15
    listed = httpx.get(f"{server.url}/_mockbatch/scenarios").json()["data"]
    assert {s["name"] for s in listed} == {"default", *BUNDLED}
    assert all(s["description"] and s["source"] in ("bundled", "built-in") for s in listed)
    result = CliRunner().invoke(cli.main, ["scenarios"])
    assert result.exit_code == 0 and all(name in result.output for name in BUNDLED)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('description = "x"\nbogus = 1', "x.toml: bogus: unknown key"),
        ('description = "x"\n[phases]\nvalidating = "soon"', 'x.toml: phases.validating: expected seconds'),
        ('description = "x"\n[phases]\nvalidating = -1', "x.toml: phases.validating: must be at least 0"),
        ('description = "x"\n[phases]\nfinalizing = { polls = 0 }', "x.toml: phases.finalizing.polls: must be at"),
        ('description = "x"\n[[lines]]\nmatch = { every = "3" }', "x.toml: lines[0].match.every: expected an "
                                                                  "integer, got str"),
        ('description = "x"\n[[lines]]\nmatch = { custom_id_regex = "(" }', "lines[0].match.custom_id_regex: not a "
                                                                          "regular expression"),
        ('description = "x"\n[[lines]]\nstatus = 500', "x.toml: lines[0]: missing key 'match'"),
        ('description = "x"\n[[faults]]\noperation = "batches.explode"', "faults[0].operation: unknown operation"),
        ('description = "x"\n[[faults]]\noperation = "files.list"\neffect = "melt"', "faults[0].effect: unknown "
                                                                                  "effect 'melt'"),
        ('description = "x"\n[[faults]]\noperation = "files.list"\nprobability = 2', "faults[0].probability: must "
                                                                                   "be between 0 and 1"),
        ('description = "x"\n[outcome]\nstay = "sleeping"', "outcome.stay: expected one of"),
        ("[phases]\nvalidating = 1", "x.toml: (top level): missing key 'description'"),
        ("description = ", "x.toml: not valid TOML"),
    ],
)
def test_bad_files_name_the_file_key_and_reason(text: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse(text, "x", "x.toml")
    assert reason in str(err.value)


def test_a_bad_file_stops_the_server_with_one_line(tmp_path) -> None:
    (tmp_path / "broken.toml").write_text('description = "x"\n[phases]\nvalidating = "later"\n')
    result = CliRunner().invoke(cli.main, ["serve", "--scenarios-dir", str(tmp_path)])
    assert result.exit_code == cli.STARTUP_FAILURE
    assert result.output.strip().count("\n") == 0 and "broken.toml: phases.validating" in result.output
    listing = CliRunner().invoke(cli.main, ["scenarios", "--dir", str(tmp_path)])
    assert listing.exit_code == 1 and "broken.toml" in listing.output
    unknown = CliRunner().invoke(cli.main, ["serve", "--scenario", "nope"])
    assert unknown.exit_code == cli.STARTUP_FAILURE and "unknown scenario 'nope'" in unknown.output


def test_selection_most_specific_first(server_factory, tmp_path) -> None:
    (tmp_path / "mine.toml").write_text('description = "Mine."\n[outcome]\nstay = "validating"\n')
    server = server_factory(scenario="validation_failed", scenarios_dir=str(tmp_path))
    client = sdk(server)
    assert httpx.get(f"{server.url}/_mockbatch/scenario").json()["name"] == "validation_failed"
    by_server = start_batch(client, [chat_line(0)])
    by_metadata = start_batch(client, [chat_line(0)], metadata={"mockbatch_scenario": "happy"})
    by_header = start_batch(client, [chat_line(0)], extra_headers={"X-Mockbatch-Scenario": "mine"})
    r = httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "happy"})
    assert r.json() == {"name": "happy", "description": "Every batch completes quickly and every line succeeds."}
    server.advance(30)
    assert client.batches.retrieve(by_server.id).status == "failed"  # its plan was frozen at creation
    assert client.batches.retrieve(by_metadata.id).status == "completed"
    assert client.batches.retrieve(by_header.id).status == "validating"
    with pytest.raises(openai.BadRequestError) as err:
        start_batch(client, [chat_line(0)], metadata={"mockbatch_scenario": "nope"})
    assert err.value.body["param"] == "metadata.mockbatch_scenario"
    bad = httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "nope"})
    assert bad.status_code == 400 and "Unknown scenario 'nope'" in bad.json()["error"]["message"]
    server.reset()
    assert httpx.get(f"{server.url}/_mockbatch/scenario").json()["name"] == "validation_failed"


def test_happy_and_slow(server) -> None:
    client = sdk(server)
    httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "happy"})
    b = start_batch(client, [chat_line(i) for i in range(10)])
    server.advance(2.0)
    assert client.batches.retrieve(b.id).status == "completed"
    httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "slow"})
    b = start_batch(client, [chat_line(i) for i in range(10)])
    server.advance(29)
    assert client.batches.retrieve(b.id).status == "validating"
    server.advance(1 + 10 * 5)
    assert client.batches.retrieve(b.id).status == "finalizing"
    server.advance(120)
    b = client.batches.retrieve(b.id)
    assert b.status == "completed" and b.completed_at - b.created_at == 30 + 50 + 120


@pytest.mark.parametrize("name", ["validation_failed", "token_limit_exceeded"])
def test_validation_outcomes(server, name: str) -> None:
    client = sdk(server)
    b = start_batch(client, [chat_line(0)], metadata={"mockbatch_scenario": name})
    b = run_to_end(server, client, b.id, step=1)
    assert b.status == "failed" and b.errors is not None
    expected = ScenarioBook().get(name).fail_errors
    assert [e.model_dump() for e in b.errors.data] == [dict(e) for e in expected]
    if name == "token_limit_exceeded":
        assert b.errors.data[0].code == "token_limit_exceeded" and b.errors.data[0].line is None


def test_all_lines_failed(server) -> None:
    client = sdk(server)
    b = start_batch(client, [chat_line(i) for i in range(6)], metadata={"mockbatch_scenario": "all_lines_failed"})
    b = run_to_end(server, client, b.id)
    assert b.status == "completed" and b.output_file_id is None
    assert b.request_counts.model_dump() == {"total": 6, "completed": 0, "failed": 6}
    errors = read_jsonl(client, b.error_file_id)
    assert len(errors) == 6
    for line in errors:
        assert line["error"] is None and line["response"]["status_code"] == 500
        assert line["response"]["body"] == {"error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error", "param": None, "code": None}}
    assert b.usage.total_tokens == 0


def test_partial_line_errors_agree_with_counts(server) -> None:
    client = sdk(server)
    lines = [chat_line(i) for i in range(40)] + [{**chat_line(99), "custom_id": "doc-long"}]
    b = start_batch(client, lines, metadata={"mockbatch_scenario": "partial_line_errors"})
    server.advance(3)
    mid = client.batches.retrieve(b.id)
    assert mid.status == "in_progress" and 0 < mid.request_counts.completed + mid.request_counts.failed < 41
    b = run_to_end(server, client, b.id)
    ok, failed = read_jsonl(client, b.output_file_id), read_jsonl(client, b.error_file_id)
    assert b.request_counts.model_dump() == {"total": 41, "completed": len(ok), "failed": len(failed)}
    by_id = {line["custom_id"]: line["response"] for line in failed}
    assert by_id["doc-long"]["status_code"] == 400
    assert by_id["doc-long"]["body"]["error"]["code"] == "context_length_exceeded"
    assert by_id["request-4"]["status_code"] == 429  # the 5th request in input order
    assert by_id["request-4"]["body"]["error"]["code"] == "rate_limit_exceeded"
    assert any(r["status_code"] == 500 for r in by_id.values())  # the seeded 10%
    assert all(line["response"]["status_code"] == 200 for line in ok)


def test_expire_partial(server) -> None:
    client = sdk(server)
    b = start_batch(client, [chat_line(i) for i in range(10)], metadata={"mockbatch_scenario": "expire_partial"})
    b = run_to_end(server, client, b.id)
    assert b.status == "expired" and b.request_counts.model_dump() == {"total": 10, "completed": 5, "failed": 0}
    assert len(read_jsonl(client, b.output_file_id)) == 5
    assert {line["error"]["code"] for line in read_jsonl(client, b.error_file_id)} == {"batch_expired"}


def test_cancel_midway_and_cancel_slow(server) -> None:
    client = sdk(server)
    b = start_batch(client, [chat_line(i) for i in range(10)], metadata={"mockbatch_scenario": "cancel_midway"})
    b = run_to_end(server, client, b.id, step=1)
    assert b.status == "cancelled" and b.cancelling_at == b.in_progress_at + 5 * 0.5 // 1
    assert b.request_counts.completed == 5 and len(read_jsonl(client, b.error_file_id)) == 5

    slow = start_batch(client, [chat_line(i) for i in range(10)], metadata={"mockbatch_scenario": "cancel_slow"})
    server.advance(6)
    assert client.batches.cancel(slow.id).status == "cancelling"
    server.advance(599)
    assert client.batches.retrieve(slow.id).status == "cancelling"
    server.advance(1)
    done = client.batches.retrieve(slow.id)
    assert done.status == "cancelled" and done.cancelled_at - done.cancelling_at == 600


def test_finalizing_long(server) -> None:
    client = sdk(server)
    b = start_batch(client, [chat_line(0)], metadata={"mockbatch_scenario": "finalizing_long"})
    server.advance(60)
    assert client.batches.retrieve(b.id).status == "finalizing"
    server.advance(1800)
    b = client.batches.retrieve(b.id)
    assert b.status == "completed" and b.completed_at - b.finalizing_at == 1800


def test_poll_driven_needs_no_clock(server) -> None:
    client = sdk(server)
    b = start_batch(client, [chat_line(i) for i in range(9)], metadata={"mockbatch_scenario": "poll_driven"})
    seen = [(x.status, x.request_counts.completed) for x in (client.batches.retrieve(b.id) for _ in range(6))]
    assert seen == [("in_progress", 0), ("in_progress", 3), ("in_progress", 6), ("finalizing", 9),
                    ("completed", 9), ("completed", 9)]
    assert server.now() == 1_750_000_000  # no clock moved


def test_manual_transitions(server_factory, tmp_path) -> None:
    (tmp_path / "hold.toml").write_text('description = "Hold."\n[phases]\nvalidating = "manual"\n'
                                        'in_progress = "manual"\nfinalizing = "manual"\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="hold")
    client = sdk(server)
    b = start_batch(client, [chat_line(i) for i in range(4)])
    server.advance(10_000)
    assert client.batches.retrieve(b.id).status == "validating"
    move = lambda to: httpx.post(f"{server.url}/_mockbatch/batches/{b.id}/transition", json={"to": to})  # noqa: E731
    assert move("completed").status_code == 409
    assert move("sideways").status_code == 400
    for status in ("in_progress", "finalizing", "completed"):
        r = move(status)
        assert r.status_code == 200 and r.json()["status"] == status
    assert len(read_jsonl(client, client.batches.retrieve(b.id).output_file_id)) == 4


def test_file_not_visible(server) -> None:
    client = sdk(server)
    httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "file_not_visible"})
    f = upload(client, [chat_line(0)])
    with pytest.raises(openai.BadRequestError) as err:
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert err.value.body == {"message": f"Cannot find file {f.id}, or project proj_mockbatch does not have access "
                                         "to it.", "type": "invalid_request_error", "param": "file_id", "code": None}
    server.advance(5)
    assert client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")


def test_sdk_retries_a_429_with_retry_after_ms(server) -> None:
    client = sdk(server, max_retries=2)
    httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "create_429"})
    f = upload(client, [chat_line(0)])
    httpx.delete(f"{server.url}/_mockbatch/requests")
    started = time.monotonic()
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert time.monotonic() - started < 2  # retry-after-ms: 10 was honoured, not the 1 s retry-after
    attempts = [e for e in journal(server) if e["operation"] == "batches.create"]
    assert [(e["status"], e["retry_count"], e["fault"]) for e in attempts] == [
        (429, 0, "create-429"), (429, 1, "create-429"), (200, 2, None)]
    assert attempts[-1]["batch_id"] == batch.id and attempts[-1]["file_id"] == f.id
    assert all(e["tenant"] == "sk-..." and e["method"] == "POST" and e["path"] == "/v1/batches" for e in attempts)
    assert set(attempts[0]) == {"time", "tenant", "method", "path", "operation", "status", "retry_count", "fault",
                                "batch_id", "file_id"}


def test_sdk_gives_up_after_max_retries_on_500s(server_factory, tmp_path) -> None:
    (tmp_path / "down.toml").write_text('description = "Down."\n[[faults]]\noperation = "batches.list"\n'
                                        'status = 500\nheaders = { "retry-after-ms" = "5" }\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="down")
    with pytest.raises(openai.InternalServerError):
        sdk(server, max_retries=3).batches.list()
    assert [e["retry_count"] for e in journal(server)] == [0, 1, 2, 3]


def test_sdk_does_not_retry_when_told_not_to(server_factory, tmp_path) -> None:
    (tmp_path / "final.toml").write_text(
        'description = "No retry."\n[[faults]]\noperation = "files.list"\nstatus = 503\n'
        'headers = { "x-should-retry" = "false" }\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="final")
    with pytest.raises(openai.InternalServerError):
        sdk(server, max_retries=3).files.list()
    assert len(journal(server)) == 1


def test_injected_delay_trips_the_client_timeout(server_factory, tmp_path) -> None:
    (tmp_path / "lag.toml").write_text('description = "Lag."\n[[faults]]\noperation = "batches.list"\n'
                                       'effect = "delay"\ndelay = { min = 1.0, max = 1.5 }\ntimes = 1\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="lag")
    with pytest.raises(openai.APITimeoutError):
        sdk(server, timeout=0.3).batches.list()
    assert sdk(server, timeout=5).batches.list().data == []  # only the first match is delayed


def test_retrieve_flaky_is_survived_by_retries(server) -> None:
    client = sdk(server, max_retries=5)
    b = start_batch(client, [chat_line(i) for i in range(3)], metadata={"mockbatch_scenario": "happy"})
    httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "retrieve_flaky"})
    for _ in range(8):
        server.advance(1)
        b = client.batches.retrieve(b.id)
    assert b.status == "completed"
    faults = [e["fault"] for e in journal(server) if e["operation"] == "batches.retrieve"]
    assert faults[1:3] == ["retrieve-500", "retrieve-500"]


def test_download_reset_then_retry(server) -> None:
    client = sdk(server)
    b = start_batch(client, [chat_line(i) for i in range(10)])
    server.advance(60)
    b = client.batches.retrieve(b.id)
    httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": "download_reset"})
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.base_url}/files/{b.output_file_id}/content", headers={"authorization": "Bearer sk-test"})
    full = client.files.content(b.output_file_id).content
    assert len(full.splitlines()) == 10
    assert sdk(server, max_retries=2).files.content(b.output_file_id).content == full


@pytest.mark.parametrize(
    ("effect", "error"),
    [("reset", openai.APIConnectionError), ("empty", json.JSONDecodeError), ("malformed", json.JSONDecodeError)],
)
def test_transport_faults(server_factory, tmp_path, effect: str, error: type) -> None:
    (tmp_path / "f.toml").write_text(f'description = "F."\n[[faults]]\noperation = "batches.list"\n'
                                     f'effect = "{effect}"\ntimes = 1\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="f")
    with pytest.raises(error):
        sdk(server).batches.list()
    assert sdk(server).batches.list().data == []
    assert [e["fault"] for e in journal(server)] == ["fault-1", None]


def test_line_rules_by_regex_range_and_fixed_response(server_factory, tmp_path) -> None:
    (tmp_path / "rules.toml").write_text("""description = "Rules."
[[lines]]
match = { custom_id_regex = "-1[0-9]$" }
response = { canned = true }
[[lines]]
match = { index_range = [2, 4] }
status = 404
error = { message = "Gone.", code = "gone" }
""")
    server = server_factory(scenarios_dir=str(tmp_path))
    client = sdk(server)
    b = start_batch(client, [chat_line(i) for i in range(12)], metadata={"mockbatch_scenario": "rules"})
    b = run_to_end(server, client, b.id)
    ok = {line["custom_id"]: line["response"] for line in read_jsonl(client, b.output_file_id)}
    failed = {line["custom_id"]: line["response"] for line in read_jsonl(client, b.error_file_id)}
    assert ok["request-10"] == {"status_code": 200, "request_id": ok["request-10"]["request_id"],
                                "body": {"canned": True}}
    assert ok["request-11"]["body"] == {"canned": True}
    assert ok["request-1"]["body"]["object"] == "chat.completion"
    assert set(failed) == {"request-2", "request-3"}
    assert failed["request-2"]["body"] == {"error": {"message": "Gone.", "type": "invalid_request_error",
                                                     "param": None, "code": "gone"}}
    assert b.request_counts.model_dump() == {"total": 12, "completed": 10, "failed": 2}


def test_faults_by_method_and_path_with_fixed_delay_and_headers(server_factory, tmp_path) -> None:
    (tmp_path / "p.toml").write_text("""description = "Path."
[[faults]]
name = "slow-get"
method = "GET"
path = "/v1/files/*"
effect = "delay"
delay = 0.3
[[faults]]
name = "teapot"
method = "DELETE"
status = 418
headers = { "x-ratelimit-remaining-requests" = 0 }
""")
    server = server_factory(scenarios_dir=str(tmp_path), scenario="p")
    client = sdk(server)
    f = upload(client, [chat_line(0)])
    started = time.monotonic()
    assert client.files.retrieve(f.id).id == f.id
    assert time.monotonic() - started >= 0.3
    client.files.list()  # GET /v1/files does not match /v1/files/*
    with pytest.raises(openai.APIStatusError) as err:
        client.files.delete(f.id)
    assert err.value.status_code == 418 and err.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert [e["fault"] for e in journal(server)] == [None, "slow-get", None, "teapot"]


def test_dribbled_download_arrives_whole(server_factory, tmp_path) -> None:
    (tmp_path / "drip.toml").write_text('description = "Drip."\n[[faults]]\noperation = "files.content"\n'
                                        'effect = "dribble"\nbytes = 64\ninterval = 0.01\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="drip")
    client = sdk(server)
    f = upload(client, [chat_line(i) for i in range(5)])
    started = time.monotonic()
    content = client.files.content(f.id).content
    assert len(content) == f.bytes and time.monotonic() - started >= 0.01 * (f.bytes // 64 - 1)


def test_stale_list(server_factory, tmp_path) -> None:
    (tmp_path / "stale.toml").write_text('description = "Stale."\n[[faults]]\noperation = "batches.list"\n'
                                         'effect = "stale_list"\nseconds = 30\n')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="stale")
    client = sdk(server)
    b = start_batch(client, [chat_line(0)])
    server.advance(10)
    assert client.batches.retrieve(b.id).status == "completed"
    assert client.batches.list().data[0].status == "validating"  # the list lags 30 s behind
    server.advance(30)
    assert client.batches.list().data[0].status == "completed"


def test_journal_can_be_cleared(server) -> None:
    client = sdk(server)
    client.batches.list()
    assert journal(server)[0]["operation"] == "batches.list"
    assert httpx.delete(f"{server.url}/_mockbatch/requests").json() == {"data": []}
    assert journal(server) == []


def test_journal_keeps_the_newest_requests(server_factory, monkeypatch) -> None:
    monkeypatch.setattr("mockbatch.traffic.JOURNAL_SIZE", 3)
    server = server_factory()
    client = sdk(server)
    f = upload(client, [chat_line(0)])
    for _ in range(4):
        client.files.retrieve(f.id)
    client.batches.list()
    assert [e["operation"] for e in journal(server)] == ["files.retrieve", "files.retrieve", "batches.list"]
    assert all(e["file_id"] == f.id for e in journal(server)[:2])


# -- webhook faults ---------------------------------------------------------------------------------------------
WEBHOOK_BUNDLED = {"webhook_duplicate": ("duplicate", None, 0.0), "webhook_out_of_order": ("out_of_order", 1, 60.0),
                   "webhook_bad_signature": ("wrong_secret", 1, 0.0)}


def webhook_faults(body: str) -> tuple[WebhookFault, ...]:
    return parse(f'description = "x"\n{body}', "x", "x.toml").webhook_faults


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('effect = "duplicate"', WebhookFault("webhook-fault-1", "duplicate")),
        ('effect = "out_of_order"', WebhookFault("webhook-fault-1", "out_of_order", seconds=events.HOLD_SECONDS)),
        ('effect = "out_of_order"\nseconds = 5', WebhookFault("webhook-fault-1", "out_of_order", seconds=5.0)),
        ('effect = "delay"\nseconds = 90', WebhookFault("webhook-fault-1", "delay", seconds=90.0)),
        ('effect = "delay"\nseconds = 0.5', WebhookFault("webhook-fault-1", "delay", seconds=0.5)),
        ('effect = "drop"\nevent = "batch.failed"', WebhookFault("webhook-fault-1", "drop", event="batch.failed")),
        ('effect = "wrong_secret"\nevent = "batch.*"\ntimes = 1',
         WebhookFault("webhook-fault-1", "wrong_secret", event="batch.*", times=1)),
        ('effect = "stale_timestamp"',
         WebhookFault("webhook-fault-1", "stale_timestamp", seconds=events.STALE_SECONDS)),
        ('effect = "stale_timestamp"\nseconds = 301',
         WebhookFault("webhook-fault-1", "stale_timestamp", seconds=301.0)),
        ('name = "cut"\neffect = "malformed"\nevent = "batch.c*"\nafter = 2\ntimes = 3\nprobability = 0.25',
         WebhookFault("cut", "malformed", event="batch.c*", times=3, after=2, probability=0.25)),
    ],
)
def test_webhook_fault_each_effect_parses(body: str, expected: WebhookFault) -> None:
    assert webhook_faults(f"[[webhook_faults]]\n{body}") == (expected,)


def test_webhook_fault_defaults() -> None:
    first, second = webhook_faults('[[webhook_faults]]\neffect = "drop"\n[[webhook_faults]]\neffect = "delay"\n'
                                   'seconds = 1\n')
    assert first == WebhookFault(name="webhook-fault-1", effect="drop", event=None, times=None, after=0,
                                 probability=1.0, seconds=0.0)
    assert second.name == "webhook-fault-2" and isinstance(second.seconds, float)
    assert parse('description = "x"', "x", "x.toml").webhook_faults == ()
    assert first.selects("batch.completed") and first.selects("response.completed")
    glob = WebhookFault("g", "drop", event="batch.*")
    assert glob.selects("batch.expired") and not glob.selects("response.failed") and not glob.selects("Batch.failed")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("event = \"batch.*\"", "x.toml: webhook_faults[0]: missing key 'effect'; expected one of: duplicate, "
                                "out_of_order, delay, drop, wrong_secret, stale_timestamp, malformed"),
        ('effect = "melt"', "x.toml: webhook_faults[0].effect: unknown effect 'melt'; expected one of: duplicate, "
                            "out_of_order, delay, drop, wrong_secret, stale_timestamp, malformed"),
        ('effect = 3', "x.toml: webhook_faults[0].effect: expected a string, got int"),
        ('effect = "drop"\nevent = "batch.exploded"',
         "x.toml: webhook_faults[0].event: unknown event type 'batch.exploded'; expected one of the event types "
         "(batch.completed, batch.failed, batch.expired, batch.cancelled, ...) or a glob such as 'batch.*'"),
        ('effect = "drop"\nevent = "nothing.*"', "x.toml: webhook_faults[0].event: unknown event type 'nothing.*'; "
                                                 "expected one of the event types (batch.completed, batch.failed, "
                                                 "batch.expired, batch.cancelled, ...) or a glob such as 'batch.*'"),
        ('effect = "drop"\ntimes = 0', "x.toml: webhook_faults[0].times: must be at least 1, got 0"),
        ('effect = "drop"\nafter = -1', "x.toml: webhook_faults[0].after: must be at least 0, got -1"),
        ('effect = "drop"\nprobability = 1.5', "x.toml: webhook_faults[0].probability: must be between 0 and 1, "
                                               "got 1.5"),
        ('effect = "drop"\nprobability = true', "x.toml: webhook_faults[0].probability: expected a number, got a "
                                                "boolean"),
        ('effect = "drop"\nbogus = 1', "x.toml: webhook_faults[0].bogus: unknown key"),
        ('effect = "drop"\nstatus = 500', "x.toml: webhook_faults[0].status: unknown key"),
        ('effect = "delay"', "x.toml: webhook_faults[0].seconds: the delay effect needs 'seconds' greater than 0"),
        ('effect = "delay"\nseconds = 0', "x.toml: webhook_faults[0].seconds: the delay effect needs 'seconds' "
                                          "greater than 0"),
        ('effect = "delay"\nseconds = -5', "x.toml: webhook_faults[0].seconds: must be at least 0, got -5"),
        ('effect = "out_of_order"\nseconds = 0', "x.toml: webhook_faults[0].seconds: the out_of_order effect needs "
                                                 "'seconds' greater than 0"),
        ('effect = "stale_timestamp"\nseconds = 300',
         "x.toml: webhook_faults[0].seconds: the stale_timestamp effect needs 'seconds' greater than 300 (the SDK's "
         "tolerance: a younger timestamp verifies), got 300"),
        *((f'effect = "{effect}"\nseconds = 5', "x.toml: webhook_faults[0].seconds: 'seconds' applies only to "
                                                "delay, out_of_order and stale_timestamp")
          for effect in ("duplicate", "drop", "wrong_secret", "malformed")),
    ],
)
def test_bad_webhook_faults_name_the_file_key_and_reason(body: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        webhook_faults(f"[[webhook_faults]]\n{body}")
    assert str(err.value) == message


def test_webhook_faults_must_be_an_array_of_tables() -> None:
    with pytest.raises(ScenarioError) as err:
        webhook_faults('webhook_faults = { effect = "drop" }')
    assert str(err.value) == "x.toml: webhook_faults: expected an array of tables ([[...]])"
    with pytest.raises(ScenarioError) as err:
        webhook_faults('[[webhook_faults]]\neffect = "drop"\n[[webhook_faults]]\neffect = "drip"')
    assert str(err.value).startswith("x.toml: webhook_faults[1].effect: unknown effect 'drip'")


def test_bundled_webhook_scenarios_parse_and_are_listed() -> None:
    book = ScenarioBook()
    for name, (effect, times, seconds) in WEBHOOK_BUNDLED.items():
        scenario = book.get(name)
        assert scenario.source == "bundled" and scenario.description
        assert scenario.webhook_faults == (WebhookFault(name.replace("_", "-"), effect, event="batch.*", times=times,
                                                        seconds=seconds),)
        # Nothing else: its batches run as under the default scenario.
        assert replace(scenario, name="default", description=DEFAULT.description, source=DEFAULT.source,
                       webhook_faults=()) == DEFAULT
    result = CliRunner().invoke(cli.main, ["scenarios"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.splitlines()}
    assert set(WEBHOOK_BUNDLED) <= listed


def picks(traffic: Traffic, scenario, event_types: list[str]) -> list[str | None]:
    return [f.name if (f := traffic.pick_webhook(scenario, t)) else None for t in event_types]


def test_pick_webhook_honours_globs_after_and_times() -> None:
    scenario = parse("""description = "x"
[[webhook_faults]]
name = "failed"
event = "batch.failed"
effect = "drop"
after = 1
times = 2
[[webhook_faults]]
name = "any-batch"
event = "batch.*"
effect = "duplicate"
times = 1
[[webhook_faults]]
name = "rest"
effect = "malformed"
""", "x", "x.toml")
    traffic = Traffic(seed=7)
    types = ["batch.failed", "batch.failed", "batch.completed", "batch.failed", "batch.failed", "batch.expired",
             "response.completed"]
    # 1st failed: past no `after` yet, so the next fault (batch.*, once) gets it; then "failed" twice; its 4th
    # match is past `times`: "rest" (any event), as is every later one.
    assert picks(traffic, scenario, types) == ["any-batch", "failed", "rest", "failed", "rest", "rest", "rest"]
    assert picks(traffic, DEFAULT, types) == [None] * len(types)
    traffic.restart_faults()
    assert picks(traffic, scenario, types[:2]) == ["any-batch", "failed"]
    traffic.reset()
    assert picks(traffic, scenario, types[:2]) == ["any-batch", "failed"]


def test_pick_webhook_counts_apart_from_api_faults() -> None:
    scenario = parse('description = "x"\n[[faults]]\noperation = "batches.list"\ntimes = 1\n'
                     '[[webhook_faults]]\neffect = "drop"\ntimes = 1\n', "x", "x.toml")
    traffic = Traffic(seed=1)
    assert traffic.pick(scenario, "batches.list", "GET", "/v1/batches") is scenario.faults[0]
    assert traffic.pick_webhook(scenario, "batch.completed") is scenario.webhook_faults[0]
    assert traffic.pick(scenario, "batches.list", "GET", "/v1/batches") is None
    assert traffic.pick_webhook(scenario, "batch.completed") is None


def test_pick_webhook_probability_is_seeded_and_independent_of_api_draws() -> None:
    scenario = parse('description = "x"\n[[faults]]\noperation = "batches.list"\nprobability = 0.5\n'
                     '[[webhook_faults]]\nevent = "batch.*"\neffect = "drop"\nprobability = 0.5\n', "x", "x.toml")
    types = ["batch.completed", "batch.failed"] * 20
    alone = picks(Traffic(seed=3), scenario, types)
    assert 0 < alone.count("webhook-fault-1") < len(types)  # a seeded share, not all or none
    assert picks(Traffic(seed=3), scenario, types) == alone  # the same seed, the same picks
    assert picks(Traffic(seed=4), scenario, types) != alone

    def api(traffic: Traffic, n: int) -> list[bool]:
        return [traffic.pick(scenario, "batches.list", "GET", "/v1/batches") is not None for _ in range(n)]

    api_alone = api(Traffic(seed=3), 2 * len(types))
    assert 0 < sum(api_alone) < len(api_alone)
    mixed, api_picks, webhook_picks = Traffic(seed=3), [], []
    for event_type in types:  # API-fault draws in between do not shift the webhook picks, nor the other way round
        api_picks += api(mixed, 2)
        webhook_picks += picks(mixed, scenario, [event_type])
    assert webhook_picks == alone and api_picks == api_alone
    mixed.reset()
    assert picks(mixed, scenario, types) == alone
