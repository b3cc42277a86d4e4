"""Adding a batch endpoint is a generator, one catalog entry and one line in the generators' table: shown by an
endpoint that exists only in this test, run through a real server and the official SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from mockbatch import catalog
from mockbatch.catalog import Endpoint, Model
from mockbatch.generators import GENERATORS, Generated, LineContext, Usage
from tests.helpers import read_jsonl

ECHO = "/v1/echo"


def echo(body: dict[str, Any], ctx: LineContext) -> Generated:
    """The generator "module": what the endpoint answers (deterministic from the line's key, like the rest)."""
    return Generated({"object": "echo", "id": "echo_" + ctx.base62(12), "model": ctx.model.snapshot,
                      "created": ctx.created, "said": body["text"]}, Usage(input=len(body["text"]) // 4), 200)


def test_a_batch_endpoint_of_ones_own(server_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GENERATORS, ECHO, echo)  # the line in the table (in-process jobs: workers=0)
    models = catalog.DEFAULT.with_endpoint(Endpoint(ECHO, "Echo", "text"),  # the catalog entry
                                           Model("echo-1", "echo-1-2026-01-01", (ECHO,)))
    server = server_factory(catalog=models, workers=0)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    lines = [{"custom_id": f"e-{i}", "method": "POST", "url": ECHO, "body": {"model": "echo-1", "text": f"hi {i}"}}
             for i in range(3)]
    lines.append({"custom_id": "no-text", "method": "POST", "url": ECHO, "body": {"model": "echo-1"}})
    f = client.files.create(file=("in.jsonl", "\n".join(json.dumps(x) for x in lines).encode()),
                            purpose="batch")
    failing = client.batches.create(input_file_id=f.id, endpoint=ECHO, completion_window="24h")  # type: ignore[arg-type]
    server.advance(60)
    failing = client.batches.retrieve(failing.id)
    assert failing.status == "failed" and failing.errors is not None  # its required parameter is checked
    assert [(e.code, e.message, e.line) for e in failing.errors.data] == [
        ("invalid_request", "Text parameter is required.", 4)]

    f = client.files.create(file=("in.jsonl", "\n".join(json.dumps(x) for x in lines[:3]).encode()),
                            purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint=ECHO, completion_window="24h")  # type: ignore[arg-type]
    server.advance(60)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.model == "echo-1-2026-01-01"
    said = {line["custom_id"]: line["response"]["body"]["said"] for line in read_jsonl(client, batch.output_file_id)}
    assert said == {"e-0": "hi 0", "e-1": "hi 1", "e-2": "hi 2"}

    with pytest.raises(openai.BadRequestError) as unknown:  # a server without the entry knows no such endpoint
        plain = openai.OpenAI(base_url=server_factory().base_url, api_key="sk-test", max_retries=0)
        plain.batches.create(input_file_id=f.id, endpoint=ECHO, completion_window="24h")  # type: ignore[arg-type]
    assert unknown.value.body["param"] == "endpoint"  # type: ignore[index]
