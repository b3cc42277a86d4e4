"""The two heavy pieces of work, run in worker threads so the event loop never waits on them:
validating an input file, and writing a batch's output and error files.

Both are deterministic functions of the stored input and the batch's frozen plan, so after a crash
they simply run again and produce the same bytes.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mockbatch import catalog, ids
from mockbatch.generators import GENERATORS, Generated, LineContext, Usage
from mockbatch.lifecycle import OutputKey
from mockbatch.scenarios import LineRule, match_line
from mockbatch.store import BlobIO
from mockbatch.validation import numbered, parse_line, validate

WINDOW = 1000  # lines are shuffled within windows of this size: output order differs, memory stays bounded

NEVER_RAN = {
    "expired": {"code": "batch_expired",
                "message": "This request could not be executed before the completion window expired."},
    "cancelled": {"code": "batch_cancelled",
                  "message": "This request was not executed because the batch was cancelled."},
}


def processing_order(n: int, key: str, shuffle: bool) -> Iterator[list[int]]:
    """Input indices in the order lines are processed, window by window."""
    rng = random.Random(key)
    for start in range(0, n, WINDOW):
        window = list(range(start, min(start + WINDOW, n)))
        if shuffle:
            rng.shuffle(window)
        yield window


@dataclass(frozen=True)
class BatchFacts:
    """What a job needs to know about its batch."""

    batch_id: str
    seed: int
    endpoint: str
    input_blob: int
    shuffle: bool
    in_progress: float = 0.0
    per_request: float = 0.0
    model: str | None = None
    rules: tuple[LineRule, ...] = ()  # the scenario's line rules


class Stopped(Exception):
    """The server is stopping or was reset: the job's result would be thrown away."""


def run_validation(db_path: str, facts: BatchFacts, stop: threading.Event) -> dict[str, Any]:
    io = BlobIO(db_path)
    try:
        report = validate(io.lines(facts.input_blob), facts.endpoint, keep_bodies=False)
    finally:
        io.close()
    total = len(report.requests) if report.ok else 0
    return {"total": total, "model": report.model, "errors": report.errors, "tokens": report.tokens,
            "outcomes": outcomes(facts, [r.custom_id for r in report.requests]) if total else b""}


def outcomes(facts: BatchFacts, custom_ids: list[str]) -> bytes:
    """One byte per line in processing order: 1 where a line rule makes the request fail."""
    if not facts.rules:
        return bytes(len(custom_ids))
    out = bytearray()
    for window in processing_order(len(custom_ids), facts.batch_id, facts.shuffle):
        for index in window:
            rule = match_line(facts.rules, facts.seed, facts.batch_id, index, custom_ids[index])
            out.append(1 if rule is not None and not 200 <= rule.status < 300 else 0)
    return bytes(out)


def _requests(io: BlobIO, blob: int) -> Iterator[tuple[str, dict[str, Any]]]:
    for _, raw in numbered(io.lines(blob)):
        obj = parse_line(raw)
        yield obj["custom_id"], obj["body"]


def _line(batch_req: str, custom_id: str, response: dict[str, Any] | None, err: dict[str, Any] | None) -> bytes:
    return (json.dumps({"id": batch_req, "custom_id": custom_id, "response": response, "error": err}) + "\n").encode()


def run_output(db_path: str, facts: BatchFacts, key: OutputKey, total: int, stop: threading.Event) -> dict[str, Any]:
    """Write the output file (2xx lines) and the error file (failed and never-run lines) as blobs."""
    generate = GENERATORS[facts.endpoint]
    assert facts.model is not None
    model = next(m for m in catalog.MODELS.values() if m.snapshot == facts.model)
    io = BlobIO(db_path)
    try:
        out, err = io.writer(), io.writer()
        usage = Usage()
        completed = failed = 0
        position = 0
        requests = _requests(io, facts.input_blob)
        for window in processing_order(total, facts.batch_id, facts.shuffle):
            if stop.is_set():
                raise Stopped
            lines = [next(requests) for _ in window]
            first = min(window)
            for index in window:
                custom_id, body = lines[index - first]
                finished = facts.in_progress + (position + 1) * facts.per_request
                line_key = ids.digest(facts.seed, facts.batch_id, custom_id, size=28)
                batch_req = f"batch_req_{int(finished) & 0xFFFFFFFF:08x}{line_key[:12].hex()}"
                if position < key.ran:
                    rule = match_line(facts.rules, facts.seed, facts.batch_id, index, custom_id)
                    if rule is None:
                        result = generate(body, LineContext(facts.seed, custom_id, body, int(finished), model))
                    else:  # the scenario scripts this line: a fixed body, or an error status and body
                        result = Generated(rule.result()[1], Usage(), rule.status)
                    response = {"status_code": result.status_code, "request_id": line_key[12:].hex(),
                                "body": result.body}
                    if 200 <= result.status_code < 300:
                        out.write(_line(batch_req, custom_id, response, None))
                        usage += result.usage
                        completed += 1
                    else:
                        err.write(_line(batch_req, custom_id, response, None))
                        failed += 1
                else:
                    err.write(_line(batch_req, custom_id, None, NEVER_RAN[key.reason]))
                position += 1
        files = {}
        for name, writer in (("output", out), ("error", err)):
            size = writer.close()
            files[name] = {"blob": writer.blob_id, "bytes": size}
        return {
            "key": [key.ran, key.reason],
            "files": files,
            "counts": {"total": total, "completed": completed, "failed": failed},
            "usage": usage.to_batch_usage(),
        }
    finally:
        io.close()
