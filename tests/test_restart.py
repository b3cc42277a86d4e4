"""State survives restarts, including a SIGKILL in the middle of a batch."""

from __future__ import annotations

import openai

from tests.helpers import chat_line, read_jsonl, start_batch
from tests.serving import ServeProcess


def test_in_process_restart_on_the_same_database(server_factory, tmp_path) -> None:
    db = str(tmp_path / "state.sqlite3")
    first = server_factory(db=db)
    client = openai.OpenAI(base_url=first.base_url, api_key="k", max_retries=0)
    batch = start_batch(client, [chat_line(i) for i in range(10)])
    first.advance(3)
    assert client.batches.retrieve(batch.id).request_counts.completed == 4
    first.stop()

    second = server_factory(db=db)
    client = openai.OpenAI(base_url=second.base_url, api_key="k", max_retries=0)
    b = client.batches.retrieve(batch.id)
    assert b.status == "in_progress" and b.request_counts.completed == 4  # the manual clock carried on
    second.advance(10)
    b = client.batches.retrieve(batch.id)
    assert b.status == "completed"
    lines = read_jsonl(client, b.output_file_id)
    assert sorted(line["custom_id"] for line in lines) == sorted(f"request-{i}" for i in range(10))


def test_sigkill_mid_batch_then_carry_on(tmp_path) -> None:
    db = str(tmp_path / "killed.sqlite3")
    args = ("--db", db, "--clock", "manual", "--seed", "3", "--start-time", "2025-06-01T00:00:00Z")
    proc = ServeProcess(*args).start()
    try:
        client = openai.OpenAI(base_url=proc.url + "/v1", api_key="k", max_retries=0)
        batch = start_batch(client, [chat_line(i) for i in range(20)])
        other = client.files.create(file=("keep.jsonl", b'{"a": 1}\n'), purpose="batch")
        proc.advance(4)
        assert client.batches.retrieve(batch.id).status == "in_progress"
        proc.kill()
        proc = ServeProcess(*args, port=proc.port).start()
        assert client.batches.retrieve(batch.id).request_counts.completed == 6
        assert client.files.content(other.id).content == b'{"a": 1}\n'
        proc.advance(60)
        b = client.batches.retrieve(batch.id)
        assert b.status == "completed" and b.request_counts.completed == 20
        output = client.files.content(b.output_file_id).content
        ids = [line["custom_id"] for line in read_jsonl(client, b.output_file_id)]
        assert sorted(ids) == sorted(f"request-{i}" for i in range(20))
        proc.kill()
        proc = ServeProcess(*args, port=proc.port).start()
        assert client.files.content(b.output_file_id).content == output
        assert client.batches.retrieve(batch.id).model_dump() == b.model_dump()
    finally:
        proc.stop()
