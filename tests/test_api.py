"""Authentication, tenants, headers, the control plane and the real clock."""

from __future__ import annotations

import re
import time

import httpx
import openai
import pytest

from mockbatch import __version__
from tests.helpers import chat_line, start_batch, upload


def test_missing_bearer_token_is_401(server) -> None:
    r = httpx.get(f"{server.base_url}/batches")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="OpenAI API"'
    assert r.json() == {"error": {"message": "Missing bearer or basic authentication in header",
                                  "type": "invalid_request_error", "param": None, "code": None}}


def test_api_keys_restrict_access(server_factory) -> None:
    server = server_factory(api_keys=["sk-good-key-123", "sk-other-key-456"])
    good = openai.OpenAI(base_url=server.base_url, api_key="sk-good-key-123", max_retries=0)
    assert good.batches.list().data == []
    bad = openai.OpenAI(base_url=server.base_url, api_key="sk-wrong-key-999", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.batches.list()
    assert err.value.body == {
        "message": "Incorrect API key provided: sk-wro***999. You can find your API key at "
                   "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}


def test_api_keys_from_the_environment(monkeypatch) -> None:
    from click.testing import CliRunner

    from mockbatch import cli

    seen = {}
    monkeypatch.setattr("mockbatch.server.serve", lambda settings: seen.setdefault("s", settings))
    result = CliRunner().invoke(cli.main, ["serve"], env={"MOCKBATCH_API_KEYS": "a1,b2", "MOCKBATCH_PORT": "9123",
                                                         "MOCKBATCH_CLOCK": "manual"})
    assert result.exit_code == 0, result.output
    assert seen["s"].api_keys == ("a1", "b2") and seen["s"].port == 9123 and seen["s"].clock == "manual"


def test_tenants_are_isolated(server) -> None:
    alice = openai.OpenAI(base_url=server.base_url, api_key="alice", max_retries=0)
    bob = openai.OpenAI(base_url=server.base_url, api_key="bob", max_retries=0)
    batch = start_batch(alice, [chat_line(0)])
    for call in (lambda: bob.batches.retrieve(batch.id), lambda: bob.batches.cancel(batch.id),
                 lambda: bob.files.retrieve(batch.input_file_id), lambda: bob.files.content(batch.input_file_id),
                 lambda: bob.files.delete(batch.input_file_id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert bob.batches.list().data == [] and bob.files.list().data == []
    # a batch cannot be started from another tenant's file: it fails like a missing file
    b = bob.batches.create(input_file_id=batch.input_file_id, endpoint="/v1/chat/completions",
                           completion_window="24h")
    server.advance(1)
    assert bob.batches.retrieve(b.id).status == "failed"
    server.advance(60)
    assert alice.batches.retrieve(batch.id).status == "completed"


def test_every_response_carries_the_common_headers(server) -> None:
    for r in (httpx.get(f"{server.base_url}/batches", headers={"authorization": "Bearer k"}),
              httpx.get(f"{server.base_url}/batches"),
              httpx.get(f"{server.url}/_mockbatch/health"),
              httpx.get(f"{server.base_url}/nothing/here")):
        assert re.fullmatch(r"req_[0-9a-f]{32}", r.headers["x-request-id"])
        assert r.headers["openai-version"] == "2020-10-01"
        assert int(r.headers["openai-processing-ms"]) >= 0
        assert r.headers["content-type"] == "application/json"


def test_unknown_route_and_bad_json(server) -> None:
    r = httpx.post(f"{server.base_url}/workflows/runs", headers={"authorization": "Bearer k"})
    assert r.status_code == 404
    assert r.json() == {"error": {"message": "Invalid URL (POST /v1/workflows/runs)",
                                  "type": "invalid_request_error", "param": None, "code": None}}
    r = httpx.post(f"{server.base_url}/batches", content=b"{oops", headers={"authorization": "Bearer k",
                                                                           "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("We could not parse the JSON body")


def test_control_plane(server, client: openai.OpenAI) -> None:
    assert httpx.get(f"{server.url}/_mockbatch/health").json() == {"status": "ok", "version": __version__}
    clock = httpx.get(f"{server.url}/_mockbatch/clock").json()
    assert clock == {"mode": "manual", "now": 1_750_000_000}
    r = httpx.post(f"{server.url}/_mockbatch/clock/advance", json={"seconds": 90.5})
    assert r.json() == {"mode": "manual", "now": 1_750_000_090.5}
    for bad in ({"seconds": -1}, {"seconds": "soon"}, {}):
        r = httpx.post(f"{server.url}/_mockbatch/clock/advance", json=bad)
        assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    upload(client, [chat_line(0)])
    assert httpx.post(f"{server.url}/_mockbatch/reset").json() == {"status": "ok"}
    assert client.files.list().data == []
    assert server.now() == 1_750_000_000  # reset also brings the clock back to its start


def test_real_clock_shows_every_phase(server_factory) -> None:
    server = server_factory(clock="real", time_scale=10, start_time=None)  # 10-line batch: ~0.7 s real
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    batch = start_batch(client, [chat_line(i) for i in range(10)])
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        b = client.batches.retrieve(batch.id)
        if not seen or seen[-1] != b.status:
            seen.append(b.status)
        if b.status == "completed":
            break
        time.sleep(0.02)
    assert seen == ["validating", "in_progress", "finalizing", "completed"]
    assert b.in_progress_at - b.created_at == pytest.approx(0, abs=1)
