"""Fifty clients at once, each uploading, creating, polling and downloading several batches through the
official SDK against one `mockbatch serve` process: no 5xx, no `database is locked`, every output complete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.helpers import chat_line, embedding_line, read_jsonl, upload
from tests.serving import ServeProcess

CLIENTS = 50
BATCHES = 3


@pytest.fixture
def serve() -> Iterator[ServeProcess]:
    server = ServeProcess("--validating-seconds", "0", "--request-seconds", "0", "--finalizing-seconds", "0").start()
    yield server
    server.stop()


def one_client(url: str, n: int) -> list[str]:
    """Run BATCHES batches for tenant n; what went wrong, if anything."""
    client = openai.OpenAI(base_url=url + "/v1", api_key=f"sk-client-{n}", max_retries=0, timeout=60)
    problems = []
    for b in range(BATCHES):
        size = 3 + (n + b) % 5
        if (n + b) % 4 == 0:
            lines = [embedding_line(i, dimensions=8) for i in range(size)]
            endpoint = "/v1/embeddings"
        else:
            lines = [chat_line(i) for i in range(size)]
            endpoint = "/v1/chat/completions"
        f = upload(client, lines, name=f"client-{n}-{b}.jsonl")
        batch = client.batches.create(input_file_id=f.id, endpoint=endpoint, completion_window="24h",  # type: ignore[arg-type]
                                      metadata={"client": str(n), "batch": str(b)})
        deadline = time.monotonic() + 60
        while batch.status not in ("completed", "failed", "expired", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.05)
            batch = client.batches.retrieve(batch.id)
        if batch.status != "completed":
            problems.append(f"client {n} batch {b}: {batch.status} {batch.errors}")
            continue
        got = sorted(line["custom_id"] for line in read_jsonl(client, batch.output_file_id))
        want = sorted(line["custom_id"] for line in lines)
        if got != want or batch.error_file_id is not None:
            problems.append(f"client {n} batch {b}: output has {got}, expected {want}")
        if [x.id for x in client.batches.list(limit=100).data][:1] != [batch.id]:
            problems.append(f"client {n} batch {b}: not first in its own list")
    return problems


def test_fifty_clients_at_once(serve: ServeProcess) -> None:
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda n: one_client(serve.url, n), range(CLIENTS)))  # raises on any 5xx
    problems = [p for r in results for p in r]
    assert not problems, "\n".join(problems[:20])
    assert serve.proc is not None
    serve.proc.terminate()
    log = serve.proc.communicate(timeout=30)[1].decode()
    assert "database is locked" not in log and "Traceback" not in log and "Error" not in log, log[-3000:]
