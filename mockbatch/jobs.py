"""The two heavy pieces of work, run off the event loop: validating an input file, and writing a batch's
output and error files.

Both are deterministic functions of the stored input and the batch's frozen plan, so after a crash
they simply run again and produce the same bytes. `Runner` decides where they run: small jobs in a
thread; big ones in worker processes, which have their own interpreter lock, so the event loop answers
as fast while they work. A big input is examined in parts, one per process, then collected in line order;
a big output is split into parts that the processes write side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from mockbatch import catalog
from mockbatch.errors import envelope
from mockbatch.generators import GENERATORS, Generated, LineContext, Usage
from mockbatch.generators.base import dumps
from mockbatch.lifecycle import Output, OutputFile, OutputKey, Validated
from mockbatch.plan import LineRule, match_line
from mockbatch.store import BlobGone, BlobIO
from mockbatch.validation import Collector, ExaminedPart, Report, examine, numbered, parse_line, validate

log = logging.getLogger("mockbatch")

WINDOW = 1000  # lines are shuffled within windows of this size: output order differs, memory stays bounded
PROCESS_LINES = 2_000  # outputs this long are written by worker processes (starting one costs ~0.3 s)
PROCESS_BYTES = 256 << 10  # inputs this big are validated in a worker process, and make the workers start early
PART_CHUNKS = 1 << 32  # chunk numbers of the parts of one blob, written side by side, never meet

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
    models: catalog.Catalog = catalog.DEFAULT  # the server's model table, carried to the worker processes
    flavour: str = "openai"  # the batch's Plan.flavour: whose limits and error codes validation applies


@dataclass(frozen=True)
class Part:
    """Windows [first, stop) of the processing order, written into the output and error blobs from chunk
    number `first_chunk` on."""

    first: int
    stop: int
    output_blob: int
    error_blob: int
    first_chunk: int = 0


@dataclass
class Checked:
    """What validation found, and each request's scripted outcome (`outcomes`)."""

    validated: Validated
    outcomes: bytes


@dataclass
class PartWritten:
    """What one part of an output wrote: bytes of each blob, lines by fate, their usage."""

    output: int
    error: int
    completed: int
    failed: int
    usage: Usage
    line_error: str | None  # the traceback of the first line a generator failed on


@dataclass
class Written:
    output: Output
    line_error: str | None


class Stopped(Exception):
    """The server is stopping or was reset: the job's result would be thrown away."""


def run_validation(db_path: str, facts: BatchFacts, stop: threading.Event) -> Checked:
    io = BlobIO(db_path)
    try:
        return validation_result(facts, validate(io.lines(facts.input_blob), facts.endpoint, keep_bodies=False,
                                                      models=facts.models, flavour=facts.flavour))
    finally:
        io.close()


def examine_part(db_path: str, facts: BatchFacts, first: int, stop_chunk: int, stop: threading.Event) -> bytes:
    """Examine the lines that start in chunks `first` to `stop_chunk` of the input: how many lines (blank
    ones too) and what each non-blank one says, numbered from 1 within the part. The ExaminedPart comes
    pickled: the server hands it on to `collect` in a worker process without spending its own time on it."""
    io = BlobIO(db_path)
    try:
        count = 0

        def lines() -> Iterator[bytes]:
            nonlocal count
            for line in io.lines_in(facts.input_blob, first, stop_chunk):
                count += 1
                yield line

        part = ExaminedPart()
        for n, raw in numbered(lines(), bom=first == 0):
            part.append(examine(raw, n, facts.endpoint, keep_body=False, models=facts.models))
        part.count = count
        return pickle.dumps(part, pickle.HIGHEST_PROTOCOL)
    finally:
        io.close()


def collect(facts: BatchFacts, parts: list[bytes], stop: threading.Event | None = None) -> Checked:
    """The validation result of a file examined in parts (`examine_part`), in order. (`stop`, which every
    task is given, is not needed: collecting takes a tenth of a second.)"""
    collector = Collector(facts.endpoint, facts.models, facts.flavour)
    before = 0
    for pickled in parts:
        part: ExaminedPart = pickle.loads(pickled)
        collector.add_part(part, before)
        before += part.count
    return validation_result(facts, collector.finish())


def validation_result(facts: BatchFacts, report: Report) -> Checked:
    total = len(report.requests) if report.ok else 0
    return Checked(Validated(total, report.model, report.errors, report.tokens),
                   outcomes(facts, [r.custom_id for r in report.requests]) if total else b"")


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


# -- writing output ------------------------------------------------------------------------------------
def _answered(batch_req: str, custom_id: str, status_code: int, request_id: str, body_json: str) -> bytes:
    """The output line of a request that ran, as `json.dumps` writes it; the body comes encoded (`dumps`, or
    the generator's own `json_text`) and is copied in. `batch_req` and `request_id` are hex: nothing to escape."""
    return (f'{{"id": "{batch_req}", "custom_id": {encode_basestring_ascii(custom_id)}, "response": {{"status_code": '
            f'{status_code}, "request_id": "{request_id}", "body": {body_json}}}, "error": null}}\n').encode()


def server_error(request_id: str) -> dict[str, Any]:
    """The body of a request that failed inside the server, as the real API words it (contract 4.3)."""
    return envelope("An error occurred while processing your request. You can retry your request, or contact us "
                    "through our help center at help.openai.com if the error persists. Please include the request "
                    f"ID {request_id} in your message.", kind="server_error")


def _never_ran(batch_req: str, custom_id: str, err: dict[str, Any]) -> bytes:
    return (dumps({"id": batch_req, "custom_id": custom_id, "response": None, "error": err}) + "\n").encode()


def write_part(db_path: str, facts: BatchFacts, key: OutputKey, total: int, part: Part,
               stop: threading.Event) -> PartWritten:
    """Write one part's lines: 2xx answers to the output blob, failed and never-run requests to the error blob."""
    generate = GENERATORS[facts.endpoint]
    assert facts.model is not None
    model = facts.models[facts.model]  # validation resolved it to a snapshot name of this table
    # Each line's key (its batch_req id and request_id) is ids.digest(seed, batch_id, custom_id), made here
    # straight from the bytes that digest would hash: this loop runs once per line of the biggest batches.
    seed, in_progress, per_request, ran = facts.seed, facts.in_progress, facts.per_request, key.ran
    key_prefix = f"{seed}:{facts.batch_id}:"
    io = BlobIO(db_path)
    try:
        out = io.writer(part.output_blob, part.first_chunk)
        err = io.writer(part.error_blob, part.first_chunk)
        tokens = [0, 0, 0, 0]  # the 2xx lines' Usage, field by field
        completed = failed = 0
        first_error: str | None = None  # the traceback of the first line a generator failed on
        lines = (raw for _, raw in numbered(io.lines(facts.input_blob)))
        for number, window in enumerate(processing_order(total, facts.batch_id, facts.shuffle)):
            if number >= part.stop:
                break
            raws = [next(lines) for _ in window]  # the window's input lines, in input order
            if number < part.first:
                continue
            if stop.is_set():
                raise Stopped
            first = min(window)
            for position, index in enumerate(window, start=number * WINDOW):
                request = parse_line(raws[index - first])
                custom_id, body = request["custom_id"], request["body"]
                finished = int(in_progress + (position + 1) * per_request)
                line_key = hashlib.blake2b((key_prefix + custom_id).encode("utf-8", "surrogatepass"),
                                           digest_size=28).hexdigest()  # as ids.digest, lone surrogates too
                batch_req = f"batch_req_{finished & 0xFFFFFFFF:08x}{line_key[:24]}"
                if position >= ran:
                    err.write(_never_ran(batch_req, custom_id, NEVER_RAN[key.reason]))
                    continue
                rule = match_line(facts.rules, seed, facts.batch_id, index, custom_id) if facts.rules else None
                try:
                    if rule is None:
                        result = generate(body, LineContext(seed, custom_id, body, finished, model))
                    else:  # the scenario scripts this line: a fixed body, or an error status and body
                        result = Generated(rule.result()[1], Usage(), rule.status)
                    text = dumps(result.body) if result.json_text is None else result.json_text
                except Exception:  # a bug meets this one line: it fails alone, as a 500 the real API could give
                    first_error = first_error or traceback.format_exc()
                    result = Generated(server_error(line_key[24:]), Usage(), 500)
                    text = dumps(result.body)
                line = _answered(batch_req, custom_id, result.status_code, line_key[24:], text)
                if 200 <= result.status_code < 300:
                    out.write(line)
                    u = result.usage
                    tokens[0] += u.input
                    tokens[1] += u.cached
                    tokens[2] += u.output
                    tokens[3] += u.reasoning
                    completed += 1
                else:
                    err.write(line)
                    failed += 1
        return PartWritten(out.close(), err.close(), completed, failed, Usage(*tokens), first_error)
    except BlobGone:
        raise Stopped from None
    finally:
        io.close()


def _windows(total: int) -> int:
    return -(-total // WINDOW)


def new_blobs(db_path: str) -> tuple[int, int]:
    io = BlobIO(db_path)
    try:
        return io.new_blob(), io.new_blob()
    finally:
        io.close()


def split(total: int, blobs: tuple[int, int], parts: int) -> list[Part]:
    """Consecutive runs of windows, one per part; concatenated in order they are the whole output."""
    n = _windows(total)
    parts = max(1, min(parts, n))
    return [Part(k * n // parts, (k + 1) * n // parts, *blobs, first_chunk=k * PART_CHUNKS) for k in range(parts)]


def merge(key: OutputKey, total: int, blobs: tuple[int, int], results: list[PartWritten]) -> Written:
    usage = Usage()
    for r in results:
        usage += r.usage
    files = {"output": OutputFile(blobs[0], sum(r.output for r in results)),
             "error": OutputFile(blobs[1], sum(r.error for r in results))}
    counts = {"total": total, "completed": sum(r.completed for r in results), "failed": sum(r.failed for r in results)}
    return Written(Output((key.ran, key.reason), files, counts, usage.to_batch_usage()),
                   next((r.line_error for r in results if r.line_error), None))


def drop_blobs(db_path: str, blobs: tuple[int, ...]) -> None:
    """Delete the blobs of an output that failed midway, so nothing it wrote stays behind."""
    io = BlobIO(db_path)
    try:
        for blob in blobs:
            io.delete_blob(blob)
    finally:
        io.close()


def run_output(db_path: str, facts: BatchFacts, key: OutputKey, total: int, stop: threading.Event) -> Written:
    """Write the output file (2xx lines) and the error file (failed and never-run lines) as blobs, in one go."""
    blobs = new_blobs(db_path)
    try:
        return merge(key, total, blobs, [write_part(db_path, facts, key, total, split(total, blobs, 1)[0], stop)])
    except BaseException:
        drop_blobs(db_path, blobs)
        raise


# -- where jobs run ------------------------------------------------------------------------------------
class Runner:
    """Runs jobs for the engine, never on the event loop."""

    def __init__(self, processes: int | None = None) -> None:
        self.threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mockbatch-job")
        self.workers = Workers(max(1, min(4, os.cpu_count() or 1)) if processes is None else processes)

    def expect(self, size: int) -> None:
        """A batch input of `size` bytes arrived: if it is big, start the worker processes now, so they are
        ready by the time it is validated."""
        if size >= PROCESS_BYTES:
            self.workers.warm()

    async def validate(self, db_path: str, facts: BatchFacts, stop: threading.Event) -> Checked:
        """Validate the input: a big file is examined in parts, one per worker process, then collected."""
        loop = asyncio.get_running_loop()
        size, chunks = await loop.run_in_executor(self.threads, _blob_shape, db_path, facts.input_blob)
        if size < PROCESS_BYTES or not await loop.run_in_executor(self.threads, self.workers.warm):
            return await loop.run_in_executor(self.threads, run_validation, db_path, facts, stop)
        parts = min(self.workers.size, chunks)
        examined = await asyncio.gather(*(
            loop.run_in_executor(self.threads, self.workers.call, stop, "examine_part", db_path, facts,
                                 k * chunks // parts, (k + 1) * chunks // parts)
            for k in range(parts)))
        # Collecting takes a tenth of a second for 50,000 lines: in a worker, it keeps the event loop's answers fast.
        return await loop.run_in_executor(self.threads, self.workers.call, stop, "collect", facts, list(examined))

    async def output(self, db_path: str, facts: BatchFacts, key: OutputKey, total: int,
                     stop: threading.Event) -> Written:
        loop = asyncio.get_running_loop()
        if total < PROCESS_LINES or not await loop.run_in_executor(self.threads, self.workers.warm):
            return await loop.run_in_executor(self.threads, run_output, db_path, facts, key, total, stop)
        blobs = await loop.run_in_executor(self.threads, new_blobs, db_path)
        parts = split(total, blobs, self.workers.size)
        # Every part is waited for (none still writing when its blobs are dropped), then a failure is raised.
        results = await asyncio.gather(*(
            loop.run_in_executor(self.threads, self.workers.call, stop, "write_part", db_path, facts, key, total, p)
            for p in parts), return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            await loop.run_in_executor(self.threads, drop_blobs, db_path, blobs)
            raise failed
        return merge(key, total, blobs, list(results))  # type: ignore[arg-type]

    def cancel(self) -> None:
        """Stop every job in a worker process now (thread jobs stop at their next window)."""
        self.workers.kill()

    def close(self) -> None:
        self.workers.kill()
        self.threads.shutdown(wait=True, cancel_futures=True)


def _blob_shape(db_path: str, blob_id: int) -> tuple[int, int]:
    """A blob's size and number of chunks."""
    io = BlobIO(db_path)
    try:
        sizes = io.chunk_sizes(blob_id)
        return sum(sizes), len(sizes)
    finally:
        io.close()


class WorkerDied(Exception):
    pass


class JobFailed(RuntimeError):
    """A job raised in a worker process: the message is its exception's line, then the worker's traceback."""


class Worker:
    """One worker process: `python -c 'serve_worker()'`, fed pickled calls on stdin, answering on stdout."""

    def __init__(self) -> None:
        # The environment as it is, less what exec could not take (a test runner may keep a huge test id there).
        env = {k: v for k, v in os.environ.items() if len(k) + len(v) < 65536}
        root = str(Path(__file__).resolve().parent.parent)  # importable however this process found it
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, "-c", "from mockbatch.jobs import serve_worker; serve_worker()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            pickle.dump((name, args), self.proc.stdin)
            self.proc.stdin.flush()
            status, value = pickle.load(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise WorkerDied from None
        if status == "stopped":
            raise Stopped
        if status == "error":
            raise JobFailed(f"{value.strip().splitlines()[-1]} (in a worker process)\n{value}")
        return value

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class Workers:
    """Up to `size` worker processes, started when first needed and kept for the next job.

    Hand-written rather than concurrent.futures.ProcessPoolExecutor, which cannot do three things this needs:
    kill a job mid-run (a reset or a cancel must not wait for a 50,000-line output), stay usable after one
    of its processes dies (the executor breaks for good), and start its processes before the first job (so
    that they are warm when a big upload's validation arrives). A worker is one `python -c` process fed
    pickled calls on a pipe; one that answered, even with an error, serves the next call, and one that died
    is replaced, so their number never exceeds `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(size)
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()

    def warm(self) -> bool:
        """Start the processes not yet running; False if there are none to start (`workers` 0) or they cannot
        be started: jobs then run in threads."""
        if self.size == 0:
            return False
        with self._lock:
            try:
                while len(self._all) < self.size:
                    worker = Worker()
                    self._all.add(worker)
                    self._idle.append(worker)
            except OSError:
                log.warning("cannot start worker processes; jobs run in threads", exc_info=True)
                return False
            return True

    def call(self, stop: threading.Event, name: str, *args: Any) -> Any:
        """Run TASKS[name](*args, stop) in a worker process, where `stop` is set when the server is gone."""
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else Worker()
                self._all.add(worker)
            try:
                return worker.call(name, args)
            except WorkerDied:
                with self._lock:
                    self._all.discard(worker)
                worker.kill()
                if stop.is_set() or worker.proc.returncode == -signal.SIGKILL:
                    raise Stopped from None
                raise
            finally:  # a worker that answered (a result, an error, a stop) is whole: it serves the next call
                with self._lock:
                    if worker in self._all and worker.proc.poll() is None:
                        self._idle.append(worker)

    def kill(self) -> None:
        with self._lock:
            workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.kill()


class _ParentGone:
    """The worker's stop signal: its server died (a crash, a kill); the rerun after restart redoes the work."""

    def __init__(self) -> None:
        self.parent = os.getppid()

    def is_set(self) -> bool:
        return os.getppid() != self.parent


TASKS = {"write_part": write_part, "examine_part": examine_part, "collect": collect}


def serve_worker() -> None:
    """The worker process's loop: read a call, run it, answer; until the server closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on `mockbatch serve` is the server's to handle
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    calls = sys.stdin.buffer
    stop = _ParentGone()
    while True:
        try:
            name, args = pickle.load(calls)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", TASKS[name](*args, stop))
        except Stopped:
            answer = ("stopped", None)
        except Exception:
            answer = ("error", traceback.format_exc())
        pickle.dump(answer, answers)
        answers.flush()
