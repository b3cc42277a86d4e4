"""A big input is validated in parts, one per worker process: the parts' lines, and the collected result,
must be exactly what reading the file in one go gives. Plus the same through a real server."""

from __future__ import annotations

import json
import sqlite3
import threading
from itertools import pairwise
from pathlib import Path

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockbatch import jobs, store
from mockbatch.server import MockBatchServer


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> store.BlobIO:
    path = tmp_path_factory.mktemp("blobs") / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in store.MIGRATIONS:
        conn.executescript(script)
    conn.close()
    io = store.BlobIO(str(path))
    yield io
    io.close()


def put(io: store.BlobIO, data: bytes, chunk: int) -> int:
    """A blob of `data` in chunks of `chunk` bytes."""
    blob = io.new_blob()
    for n, at in enumerate(range(0, len(data), chunk)):
        io.conn.execute("INSERT INTO chunks (blob_id, n, data) VALUES (?, ?, ?)", (blob, n, data[at:at + chunk]))
    io.conn.execute("UPDATE blobs SET size = ? WHERE id = ?", (len(data), blob))
    return blob


LINE = st.sampled_from([b"", b"x", b"\r", b"abc", b"y" * 7, b"z" * 8, b"w" * 9, b"v" * 30])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=st.lists(LINE, max_size=20), end=st.sampled_from([b"", b"\n", b"\n\n"]),
       chunk=st.integers(1, 12), cuts=st.lists(st.floats(0, 1), max_size=3))
def test_parts_cover_every_line_exactly_once(blobs: store.BlobIO, lines: list[bytes], end: bytes, chunk: int,
                                             cuts: list[float]) -> None:
    blob = put(blobs, b"\n".join(lines) + end, chunk)
    chunks = len(blobs.chunk_sizes(blob))
    bounds = [0, *sorted(int(c * chunks) for c in cuts), chunks]
    parts = [list(blobs.lines_in(blob, a, b)) for a, b in pairwise(bounds)]
    assert [line for part in parts for line in part] == list(blobs.lines(blob))


def request(i: int, model: str = "gpt-4o-mini", custom_id: str | None = None) -> bytes:
    return json.dumps({"custom_id": custom_id or f"request-{i}", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": model, "messages": [{"role": "user", "content": f"Hi {i}"}]}}).encode()


FILES = {
    "clean": [request(i) for i in range(40)],
    "bom, blank lines and CRLF": [b"\xef\xbb\xbf" + request(0), b"", *(request(i) + b"\r" for i in range(1, 30)),
                                  b"", b"  "],
    "errors everywhere": [request(0), b"{not json", *(request(i) for i in range(1, 20)), request(99, "gpt-4o"),
                          request(20, custom_id="request-3"), b"[1]", *(request(i) for i in range(21, 40))],
    "a duplicate far from its first": [request(i) for i in range(40)] + [request(0)],
    "the model changes in the last part": [request(i) for i in range(30)]
    + [request(i, "gpt-4o") for i in range(30, 40)],
}


@pytest.mark.parametrize("name", list(FILES))
@pytest.mark.parametrize("chunk", [64, 500, 1 << 20])
def test_collected_parts_equal_one_pass(blobs: store.BlobIO, name: str, chunk: int) -> None:
    db = blobs.conn.execute("PRAGMA database_list").fetchone()[2]
    blob = put(blobs, b"\n".join(FILES[name]) + b"\n", chunk)
    facts = jobs.BatchFacts("batch_x", 1, "/v1/chat/completions", blob, True)
    whole = jobs.run_validation(db, facts, threading.Event())
    chunks = len(blobs.chunk_sizes(blob))
    for parts in (2, 3, 7):
        bounds = [k * chunks // parts for k in range(parts + 1)]
        examined = [jobs.examine_part(db, facts, a, b, threading.Event()) for a, b in pairwise(bounds)]
        assert jobs.collect(facts, examined) == whole


def test_a_big_file_with_errors_fails_the_same_through_the_server(tmp_path: Path) -> None:
    """Over PROCESS_BYTES, so worker processes examine the file in parts."""
    lines = [request(i) for i in range(12_000)]
    lines[4_000] = b"{broken"
    lines[11_999] = request(11_999, custom_id="request-7")
    data = b"\n".join(lines) + b"\n"
    assert len(data) > jobs.PROCESS_BYTES and len(data) > store.CHUNK  # two chunks or more
    with MockBatchServer(db=tmp_path / "db.sqlite3", clock="manual") as mb:
        client = openai.OpenAI(base_url=mb.base_url, api_key="sk-test", max_retries=0)
        f = client.files.create(file=("in.jsonl", data), purpose="batch")
        batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        mb.advance(60)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "failed"
    assert [(e.code, e.line) for e in batch.errors.data] == [("invalid_json_line", 4_001),
                                                             ("duplicate_custom_id", 12_000)]


def children() -> set[int]:
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except FileNotFoundError:  # a thread that ended meanwhile (another test's server or receiver)
            continue
    return found


def test_without_worker_processes_big_batches_run_in_threads(tmp_path: Path) -> None:
    lines = [request(i) for i in range(jobs.PROCESS_LINES + 500)]
    data = b"\n".join(lines) + b"\n"
    assert len(data) > jobs.PROCESS_BYTES
    before = children()
    with MockBatchServer(db=tmp_path / "db.sqlite3", clock="manual", workers=0) as mb:
        client = openai.OpenAI(base_url=mb.base_url, api_key="sk-test", max_retries=0)
        f = client.files.create(file=("in.jsonl", data), purpose="batch")
        batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        mb.advance(86_000)
        batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed" and batch.request_counts.completed == len(lines)
        out = client.files.content(batch.output_file_id).text.splitlines()
        assert sorted(json.loads(x)["custom_id"] for x in out) == sorted(f"request-{i}" for i in range(len(lines)))
        assert all(x == json.dumps(json.loads(x)) for x in out)  # each line exactly as json.dumps writes it
        assert children() == before  # no worker process was started


@pytest.mark.parametrize("chunk", [4_000, 60_000, 1 << 20])
def test_embedding_inputs_are_counted_across_parts(blobs: store.BlobIO, chunk: int) -> None:
    """Over 50,000 inputs in all: the line that crosses the limit fails, wherever the parts were cut."""
    def embed(i: int) -> bytes:
        return json.dumps({"custom_id": f"e-{i}", "method": "POST", "url": "/v1/embeddings",
                           "body": {"model": "text-embedding-3-small", "input": ["x"] * 2_000}}).encode()

    db = blobs.conn.execute("PRAGMA database_list").fetchone()[2]
    blob = put(blobs, b"\n".join(embed(i) for i in range(30)) + b"\n", chunk)
    facts = jobs.BatchFacts("batch_x", 1, "/v1/embeddings", blob, True)
    whole = jobs.run_validation(db, facts, threading.Event())
    assert [(e["code"], e["line"]) for e in whole.validated.errors] == [("too_many_tasks", 26)]
    chunks = len(blobs.chunk_sizes(blob))
    for parts in (2, 3):
        bounds = [k * chunks // parts for k in range(parts + 1)]
        assert jobs.collect(facts, [jobs.examine_part(db, facts, a, b, threading.Event())
                                    for a, b in pairwise(bounds)]) == whole


def test_a_big_upload_starts_the_worker_processes_and_a_small_one_does_not(tmp_path: Path) -> None:
    """The in-process server starts its workers only when a file big enough to need them arrives."""
    small = b"\n".join(request(i) for i in range(10)) + b"\n"
    big = b"\n".join(request(i) for i in range(3_000)) + b"\n"
    assert len(small) < jobs.PROCESS_BYTES <= len(big)
    before = children()
    with MockBatchServer(db=tmp_path / "db.sqlite3", clock="manual", workers=2) as mb:
        client = openai.OpenAI(base_url=mb.base_url, api_key="sk-test", max_retries=0)
        client.files.create(file=("small.jsonl", small), purpose="batch")
        assert children() == before
        client.files.create(file=("big.jsonl", big), purpose="batch")
        assert len(children() - before) == 2
