"""Tenant isolation: every bearer token is its own tenant, and nothing crosses between them."""

from __future__ import annotations

import json
from collections.abc import Callable

import openai
import pytest

from mockbatch.server import MockBatchServer
from tests.helpers import chat_line, jsonl, read_jsonl, start_batch


def test_every_cross_tenant_operation_is_refused_or_empty(server_factory: Callable[..., MockBatchServer]) -> None:
    server = server_factory()
    alice = openai.OpenAI(base_url=server.base_url, api_key="sk-alice", max_retries=0)
    mallory = openai.OpenAI(base_url=server.base_url, api_key="sk-mallory", max_retries=0)

    # Alice: a finished batch (input and output files), a batch in flight, a pending upload.
    done = start_batch(alice, [chat_line(i) for i in range(3)])
    server.advance(3600)
    done = alice.batches.retrieve(done.id)
    assert done.status == "completed" and done.output_file_id
    running = start_batch(alice, [chat_line(i) for i in range(3)])
    content = jsonl([chat_line(9)])
    upload = alice.uploads.create(bytes=len(content), filename="big.jsonl", mime_type="text/jsonl", purpose="batch")
    files = [done.input_file_id, running.input_file_id, done.output_file_id]
    batches = [done.id, running.id]

    # Mallory cannot see, read, change or delete any of it.
    for file_id in files:
        for attempt in (lambda f=file_id: mallory.files.retrieve(f), lambda f=file_id: mallory.files.content(f),
                        lambda f=file_id: mallory.files.delete(f)):
            with pytest.raises(openai.NotFoundError) as caught:
                attempt()
            assert caught.value.body["message"] == f"No such File object: {file_id}"  # type: ignore[index]
    for batch_id in batches:
        for attempt in (lambda b=batch_id: mallory.batches.retrieve(b), lambda b=batch_id: mallory.batches.cancel(b)):
            with pytest.raises(openai.NotFoundError):
                attempt()
    with pytest.raises(openai.NotFoundError):
        mallory.uploads.parts.create(upload.id, data=content)
    with pytest.raises(openai.NotFoundError):
        mallory.uploads.complete(upload.id, part_ids=[])
    with pytest.raises(openai.NotFoundError):
        mallory.uploads.cancel(upload.id)
    assert mallory.files.list().data == []
    assert mallory.batches.list().data == []
    for file_id in files:  # a cursor from another tenant leads nowhere
        assert mallory.files.list(after=file_id).data == []
    for batch_id in batches:
        assert mallory.batches.list(after=batch_id).data == []
    # A batch on someone else's file is accepted and fails: the file cannot be found (as the real API does).
    stolen = mallory.batches.create(input_file_id=files[0], endpoint="/v1/chat/completions", completion_window="24h")
    server.advance(60)  # less than an upload's hour
    stolen = mallory.batches.retrieve(stolen.id)
    assert stolen.status == "failed" and stolen.errors and stolen.errors.data
    assert stolen.errors.data[0].message.startswith(f"Cannot find file {files[0]}")

    # Everything of Alice's is still there, untouched.
    assert {f.id for f in alice.files.list().data} >= set(files)
    assert {b.id for b in alice.batches.list().data} >= set(batches)
    assert alice.files.content(done.input_file_id).content.count(b"\n") == 3
    assert alice.batches.retrieve(running.id).status != "cancelling"
    part = alice.uploads.parts.create(upload.id, data=content)
    assert alice.uploads.complete(upload.id, part_ids=[part.id]).status == "completed"


def test_output_files_belong_to_the_batch_owner(server_factory: Callable[..., MockBatchServer]) -> None:
    server = server_factory()
    alice = openai.OpenAI(base_url=server.base_url, api_key="sk-alice", max_retries=0)
    mallory = openai.OpenAI(base_url=server.base_url, api_key="sk-mallory", max_retries=0)
    batch = start_batch(alice, [chat_line(i) for i in range(4)])
    server.advance(3600)
    batch = alice.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id
    lines = read_jsonl(alice, batch.output_file_id)
    assert sorted(line["custom_id"] for line in lines) == [f"request-{i}" for i in range(4)]
    for attempt in (mallory.files.retrieve, mallory.files.content, mallory.files.delete):
        with pytest.raises(openai.NotFoundError):
            attempt(batch.output_file_id)
    assert mallory.files.list(purpose="batch_output").data == []
    assert json.loads(alice.files.content(batch.output_file_id).text.splitlines()[0])["custom_id"].startswith(
        "request-")
