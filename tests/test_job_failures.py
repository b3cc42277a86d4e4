"""A failing job is state, not a loop: a few retries on the virtual clock, then the batch fails with a clear
error; one bad line fails alone; the server keeps answering and reports the original exception once."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from mockbatch import jobs, lifecycle
from mockbatch.server import MockBatchServer, ServerError
from tests.helpers import CHAT, chat_line, read_jsonl, start_batch


class Boom(RuntimeError):
    pass


def quick(call: Any) -> Any:
    """The call's answer, which must come at once (a looping job once made these hang)."""
    started = time.monotonic()
    answer = call()
    assert time.monotonic() - started < 5
    return answer


@pytest.fixture
def threads_server(server_factory) -> MockBatchServer:
    return server_factory(workers=0)  # jobs run in this process's threads, where a test can break them


def test_a_generator_bug_fails_its_line_alone(threads_server: MockBatchServer, monkeypatch) -> None:
    generate = jobs.GENERATORS[CHAT]

    def flaky(body: dict[str, Any], ctx: Any) -> Any:
        if body["messages"][0]["content"] == "Say hello #2":
            raise Boom("a generator bug")
        return generate(body, ctx)

    monkeypatch.setitem(jobs.GENERATORS, CHAT, flaky)
    client = openai.OpenAI(base_url=threads_server.base_url, api_key="sk-test", max_retries=0)
    batch = start_batch(client, [chat_line(i) for i in range(4)])
    with pytest.raises(ServerError, match="a generator bug") as raised:  # control calls check() too
        threads_server.advance(3600)
    assert "and 1 more" not in str(raised.value)  # reported once
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (3, 1)
    [failed] = read_jsonl(client, batch.error_file_id)
    request_id = failed["response"]["request_id"]
    assert failed["custom_id"] == "request-2" and failed["error"] is None
    assert failed["response"]["status_code"] == 500
    assert failed["response"]["body"] == {"error": {
        "message": "An error occurred while processing your request. You can retry your request, or contact us "
                   "through our help center at help.openai.com if the error persists. Please include the request "
                   f"ID {request_id} in your message.",
        "type": "server_error", "param": None, "code": None}}
    threads_server.check()  # and only once


@pytest.mark.parametrize(("target", "failed_from", "what"), [
    ("write_part", "in_progress", "write the output of"),
    ("validate", "validating", "validate the input file of"),
])
def test_a_failing_job_is_retried_with_backoff_then_fails_the_batch(
        threads_server: MockBatchServer, monkeypatch, target: str, failed_from: str, what: str) -> None:
    calls: list[int] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise Boom("the disk said no")

    monkeypatch.setattr(jobs, target, broken)
    client = openai.OpenAI(base_url=threads_server.base_url, api_key="sk-test", max_retries=0)
    batch = start_batch(client, [chat_line(i) for i in range(3)])
    created = batch.created_at
    due = created + (0 if target == "validate" else 1 + 3 * 0.5 + 1)  # when the job is first needed
    with pytest.raises(ServerError, match="the disk said no") as raised:
        quick(lambda: threads_server.advance(due - threads_server.now()))
    assert "more" not in str(raised.value)  # the original exception, once
    assert len(calls) == 1  # tried once, not on every tick
    status = quick(lambda: client.batches.retrieve(batch.id)).status
    assert status in (failed_from, "finalizing")
    quick(lambda: threads_server.advance(0.5))
    assert len(calls) == 1  # the retry waits for its time on the virtual clock
    assert quick(lambda: client.batches.list()).data[0].status == status
    quick(lambda: threads_server.advance(0.5))
    assert len(calls) == 2  # one second after the first failure
    quick(lambda: threads_server.advance(100))
    assert len(calls) == lifecycle.JOB_ATTEMPTS  # then two seconds later, then it gives up
    batch = quick(lambda: client.batches.retrieve(batch.id))
    # Work takes no time on the manual clock: the attempts ran when due, at 0, 1 and 3 s, however the clock moved.
    assert batch.status == "failed" and batch.failed_at == int(due + 3)
    assert batch.errors is not None and [e.model_dump() for e in batch.errors.data] == [{
        "code": "server_error", "line": None, "param": None,
        "message": f"mockbatch could not {what} this batch (3 attempts): Boom: the disk said no"}]
    assert batch.output_file_id is None and batch.error_file_id is None
    quick(lambda: threads_server.advance(3600))
    assert len(calls) == lifecycle.JOB_ATTEMPTS  # a failed batch is done
    threads_server.check()  # its retries were not reported again
    assert client.files.list().data[0].purpose == "batch"  # only the input: nothing written is left behind


def test_a_failure_survives_a_restart_and_the_count_goes_on(server_factory, tmp_path, monkeypatch) -> None:
    db = str(tmp_path / "state.sqlite3")
    first = server_factory(db=db, workers=0)
    calls: list[int] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise Boom("again")

    monkeypatch.setattr(jobs, "write_part", broken)
    client = openai.OpenAI(base_url=first.base_url, api_key="sk-test", max_retries=0)
    batch = start_batch(client, [chat_line(0)])
    with pytest.raises(ServerError):
        first.advance(3)  # validated (1 s), ran its line (0.5 s), finalized (1 s): the first attempt fails
    assert len(calls) == 1
    first.stop()
    second = server_factory(db=db, workers=0)
    client = openai.OpenAI(base_url=second.base_url, api_key="sk-test", max_retries=0)
    second.advance(60)  # the count goes on from the stored one: not reported again
    assert len(calls) == lifecycle.JOB_ATTEMPTS
    assert client.batches.retrieve(batch.id).status == "failed"


def test_worker_processes_stay_at_their_number(server_factory) -> None:
    """A job that fails in a worker process (here: the database's size cap is reached while writing a big
    output) neither leaks the worker nor loops; the batch fails, and the space its output took is freed."""
    from tests.helpers import worker_processes

    server = server_factory(workers=2, max_db_bytes=1536 << 10)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    lines = [chat_line(i, max_completion_tokens=200) for i in range(3000)]
    batch = start_batch(client, lines)
    with pytest.raises(ServerError, match="disk is full") as raised:
        server.advance(2 * 86400)
    assert "more" not in str(raised.value)
    assert len(worker_processes()) == 2
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "failed", batch
    assert batch.errors is not None and "database or disk is full" in (batch.errors.data[0].message or "")
    again = start_batch(client, lines[:10])  # the failed output's space was given back: small batches run
    server.advance(3600)
    assert client.batches.retrieve(again.id).status == "completed"
    assert len(worker_processes()) == 2
    assert httpx.get(server.url + "/_mockbatch/health").status_code == 200
