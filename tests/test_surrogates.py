"""Lone UTF-16 surrogates (legal in JSON, not in UTF-8: a truncated emoji) wherever a client can put a string:
never a 500, never a poisoned tenant; what is echoed comes back as a `\\uXXXX` escape, across restarts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from mockbatch.server import MockBatchServer
from tests.helpers import CHAT, chat_line, jsonl, upload

LONE = "\ud83d"  # the first half of an emoji
LOW = "\udc80"


def strict(text: str | bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    return json.loads(text, parse_constant=refuse)


def raw_post(server: MockBatchServer, path: str, body: dict[str, Any], key: str = "sk-test") -> httpx.Response:
    """The body as `json.dumps` writes it: a lone surrogate goes as a `\\uXXXX` escape (the SDK, which encodes
    its JSON as UTF-8, cannot send one at all)."""
    return httpx.post(server.url + path, content=json.dumps(body).encode(), timeout=30,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})


def every_line(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [strict(line) for line in client.files.content(file_id).content.splitlines()]


def test_lone_surrogates_in_input_lines_run_and_are_echoed(server: MockBatchServer, client: openai.OpenAI) -> None:
    lines = [
        chat_line(0, messages=[{"role": "user", "content": f"hi {LONE}"}]),
        {**chat_line(1), "custom_id": f"id-{LOW}"},
        chat_line(2, user=LOW, metadata={LOW: LONE}, response_format={"type": "json_schema", "json_schema": {
            "name": "x", "schema": {"type": "object", "properties": {"a": {"type": "string", "enum": [LONE]}},
                                    "required": ["a"], "additionalProperties": False}}}),
        chat_line(3, tools=[{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {LOW: {"type": "string", "enum": [LONE]}}, "required": [LOW]}}}],
                  tool_choice="required"),
        chat_line(4, logprobs=True, top_logprobs=2, messages=[{"role": "user", "content": LONE * 3}]),
    ]
    f = upload(client, lines)
    batch = client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h")
    server.advance(3600)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed", batch.errors
    assert batch.request_counts is not None and batch.request_counts.completed == 5
    out = {line["custom_id"]: line for line in every_line(client, batch.output_file_id)}
    assert set(out) == {"request-0", f"id-{LOW}", "request-2", "request-3", "request-4"}  # the id echoed as sent
    schema_answer = out["request-2"]["response"]["body"]["choices"][0]["message"]["content"]
    assert strict(schema_answer) == {"a": LONE}
    call = out["request-3"]["response"]["body"]["choices"][0]["message"]["tool_calls"][0]
    assert strict(call["function"]["arguments"]) == {LOW: LONE}
    assert client.batches.list().data[0].id == batch.id
    server.check()


@pytest.mark.parametrize(("field", "value", "code"), [
    ("model", f"gpt-4o{LONE}", "model_not_found"),
    ("method", f"POST{LOW}", "invalid_value"),
    ("url", f"/v1/chat{LOW}", "invalid_url"),
])
def test_lone_surrogates_where_validation_refuses_a_line(server: MockBatchServer, client: openai.OpenAI,
                                                          field: str, value: str, code: str) -> None:
    line = chat_line(0)
    if field == "model":
        line["body"]["model"] = value
    else:
        line[field] = value
    f = upload(client, [line])
    batch = client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h")
    server.advance(60)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "failed" and batch.errors and batch.errors.data
    assert batch.errors.data[0].code == code
    if field != "url":
        assert value in (batch.errors.data[0].message or "")  # the offending value echoed, escaped on the wire
    assert client.batches.list().data[0].status == "failed"
    server.check()


def test_lone_surrogates_in_create_parameters(server_factory, tmp_path) -> None:
    db = str(tmp_path / "state.sqlite3")
    server = server_factory(db=db)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    f = upload(client, [chat_line(0)])
    create = {"input_file_id": f.id, "endpoint": CHAT, "completion_window": "24h"}
    ok = raw_post(server, "/v1/batches", {**create, "metadata": {"k": LOW, LONE: "v"}})
    assert ok.status_code == 200, ok.text
    assert strict(ok.text)["metadata"] == {"k": LOW, LONE: "v"}
    bad_endpoint = raw_post(server, "/v1/batches", {**create, "endpoint": f"/v1/chat{LOW}"})
    assert bad_endpoint.status_code == 400
    assert strict(bad_endpoint.text)["error"]["param"] == "endpoint"
    bad_file = raw_post(server, "/v1/batches", {**create, "input_file_id": f"file-{LOW}"})
    assert bad_file.status_code == 400 and strict(bad_file.text)["error"]["param"] == "input_file_id"
    server.advance(3600)
    listed = client.batches.list()
    assert {b.metadata.get("k") for b in listed.data if b.metadata} == {LOW}
    assert client.batches.retrieve(ok.json()["id"]).status == "completed"
    server.check()
    server.stop()
    again = server_factory(db=db)  # the same database, after a restart
    client = openai.OpenAI(base_url=again.base_url, api_key="sk-test", max_retries=0)
    assert client.batches.retrieve(ok.json()["id"]).metadata == {"k": LOW, LONE: "v"}
    assert len(client.batches.list().data) == len(listed.data)
    again.check()


def test_lone_surrogates_in_upload_file_names(server: MockBatchServer, client: openai.OpenAI) -> None:
    name = f"in{LONE}.jsonl".encode("utf-8", "surrogatepass")  # not UTF-8: what a client may put in a header
    r = httpx.post(server.url + "/v1/files", headers={"Authorization": "Bearer sk-test"},
                   files={"file": (name.decode("latin-1"), jsonl([chat_line(0)]))}, data={"purpose": "batch"})
    assert r.status_code == 200, r.text  # multipart headers are bytes: read as Latin-1, stored as valid text
    assert strict(r.text)["filename"] == name.decode("latin-1")
    up = raw_post(server, "/v1/uploads", {"filename": f"in{LOW}.jsonl", "purpose": "batch", "bytes": 3,
                                          "mime_type": "text/jsonl"})
    assert up.status_code == 400
    assert strict(up.text) == {"error": {
        "message": "Invalid 'filename': the string holds an unpaired UTF-16 surrogate, which is not valid Unicode.",
        "type": "invalid_request_error", "param": "filename", "code": "invalid_value"}}
    assert [f.filename for f in client.files.list().data] == [name.decode("latin-1")]
    server.check()
