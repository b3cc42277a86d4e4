"""mockbatch benchmark: `python bench/run.py` (add `--quick` for a tiny smoke run, `--help` for sizes).

Runs the server as its own process (`python -m mockbatch serve`) with immediate timing on the real clock,
drives it over HTTP, samples its memory from /proc, and prints one table: each figure, its target, and
figure / target (for a floor target such as throughput, target / figure), so a ratio at or below 1.0 passes.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AUTH = {"authorization": "Bearer sk-bench"}
ANTHROPIC = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"}  # Anthropic's surface: its own tenant
IMMEDIATE = ["--validating-seconds", "0", "--request-seconds", "0", "--finalizing-seconds", "0"]
MB = 1 << 20


# -- the table -------------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.target is None:
            return None
        if self.higher_is_better:
            return self.target / self.value if self.value else float("inf")
        return self.value / self.target

    @property
    def verdict(self) -> str:
        r = self.ratio
        return "" if r is None else ("ok" if r <= 1.0 else "MISS")


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, *args: Any, **kw: Any) -> None:
        row = Row(*args, **kw)
        self.rows.append(row)
        print(f"  {row.name}: {_fmt(row.value)} {row.unit}", file=sys.stderr, flush=True)

    def render(self) -> str:
        head = ("figure", "measured", "target", "ratio", "", "note")
        lines = [head]
        for r in self.rows:
            sign = ">=" if r.higher_is_better else "<="
            target = "" if r.target is None else f"{sign} {_fmt(r.target)} {r.unit}"
            ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
            lines.append((r.name, f"{_fmt(r.value)} {r.unit}", target, ratio, r.verdict, r.note))
        widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
        out = []
        for i, row in enumerate(lines):
            out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
            if i == 0:
                out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(out)


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if v < 1 else f"{v:.2f}"


# -- the server under test -------------------------------------------------------------------------
class Server:
    """`python -m mockbatch serve` in its own process, with its memory watched."""

    def __init__(self, workdir: Path, name: str, *extra: str) -> None:
        self.db = workdir / f"{name}.sqlite3"
        cmd = [sys.executable, "-m", "mockbatch", "serve", "--db", str(self.db), "--port", "0", "--seed", "1",
               *IMMEDIATE, *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = re.search(r"http://([\d.]+):(\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.pid = self.proc.pid

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {**AUTH, **({"content-type": "application/json"} if data else {}), **(headers or {})}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)  # a kept one would time out idle
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {raw[:300]!r}")
        return json.loads(raw)

    def upload(self, name: str, chunks: Callable[[], Iterator[bytes]], size: int) -> dict[str, Any]:
        """Stream a multipart upload (the content is produced on the fly, never held whole)."""
        boundary = "benchboundary7d1f"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                "Content-Type: application/jsonl\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        conn.putrequest("POST", "/v1/files")
        for k, v in {**AUTH, "content-type": f"multipart/form-data; boundary={boundary}",
                     "content-length": str(len(head) + size + len(tail))}.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(head)
        for data in chunks():
            conn.sock.sendall(data)
        conn.send(tail)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"upload: {resp.status} {raw[:300]!r}")
        return json.loads(raw)

    def download(self, path: str, headers: dict[str, str] = AUTH) -> tuple[int, int]:
        """Read an answer in full, as a client would, counting its bytes and lines (nothing is saved: writing a
        gigabyte to this machine's disk would time the disk, not the server)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        size = lines = 0
        while data := resp.read(MB):
            size += len(data)
            lines += data.count(b"\n")
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"download {path}: {resp.status}")
        return size, lines

    def pids(self) -> list[int]:
        """The server and any worker processes it started."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return total

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the server and its worker processes (started with it) are idle, as a server that was
        started before the test run would be."""
        deadline = time.monotonic() + timeout
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.cpu_seconds()
            if now - before < 0.01:
                return
            before = now

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _status(pid: int) -> dict[str, int]:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


class Memory:
    """The peak resident memory of the server (and, unless `main_only`, its worker processes): the sum of each
    process's VmHWM, which the kernel keeps exactly, and a sample of VmRSS every 50 ms besides, for a process
    that ends before it is read. (Sampling faster would take CPU from the processes being measured.)"""

    def __init__(self, server: Server, every: float = 0.05, main_only: bool = False) -> None:
        self.server = server
        self.every = every
        self.main_only = main_only
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def pids(self) -> list[int]:
        return [self.server.pid] if self.main_only else self.server.pids()

    def current(self) -> int:
        return sum(_status(p).get("VmRSS", 0) for p in self.pids())

    def workers(self) -> int:
        return sum(_status(p).get("VmRSS", 0) for p in self.server.pids()[1:])

    def reset_peak(self) -> None:
        for pid in self.pids():  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.peak = self.current()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.current())

    def __enter__(self) -> Memory:
        self.reset_peak()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm = sum(_status(p).get("VmHWM", 0) for p in self.pids())
        self.peak = max(self.peak, hwm)


# -- inputs ----------------------------------------------------------------------------------------
def chat_lines(n: int) -> bytes:
    return b"".join(json.dumps({
        "custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "max_tokens": 1000, "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"Write a haiku about the number {i}."}]}}).encode() + b"\n"
        for i in range(n))


def embedding_lines(n: int, dims: int) -> bytes:
    extra = {} if dims == 1536 else {"dimensions": dims}
    return b"".join(json.dumps({
        "custom_id": f"embed-{i}", "method": "POST", "url": "/v1/embeddings",
        "body": {"model": "text-embedding-3-small", "input": f"The food was delicious and the waiter number {i} "
                 "was very attentive.", "encoding_format": "float", **extra}}).encode() + b"\n"
        for i in range(n))


def message_batch_body(n: int) -> bytes:
    """A Message Batch create body of `n` requests (about 200 bytes each: 100,000 make some 20 MB), made by
    formatting one request's JSON text (a `json.dumps` of 100,000 dicts would take longer than the server's parse)."""
    template = ('{"custom_id":"request-%d","params":{"model":"claude-haiku-4-5","max_tokens":1024,'
                '"system":"You are a helpful assistant.","messages":[{"role":"user",'
                '"content":"Write a haiku about the number %d, please."}]}}')
    return b'{"requests":[' + ",".join(template % (i, i) for i in range(n)).encode() + b"]}"


def pieces(data: bytes, size: int = MB) -> Callable[[], Iterator[bytes]]:
    return lambda: (data[i:i + size] for i in range(0, len(data), size))


# -- scenarios -------------------------------------------------------------------------------------
def run_batch(server: Server, data: bytes, endpoint: str, poll_every: float,
              limit: float) -> dict[str, Any]:
    """Upload, create, wait (a separate poller process watches), download; times and latencies. The batch's
    files are deleted afterwards, so the next run finds the database as this one did."""
    t0 = time.perf_counter()
    f = server.upload("input.jsonl", pieces(data), len(data))
    t_upload = time.perf_counter()
    batch = server.request("POST", "/v1/batches", {"input_file_id": f["id"], "endpoint": endpoint,
                                                   "completion_window": "24h"})
    poller = subprocess.run([sys.executable, str(HERE / "poll.py"), server.host, str(server.port), batch["id"],
                             str(poll_every), str(limit)], capture_output=True, text=True, check=True)
    polled = json.loads(poller.stdout)
    t_done = time.perf_counter()
    final = polled["batch"]
    if final.get("status") != "completed":
        raise RuntimeError(f"batch did not complete: {json.dumps(final)[:500]}")
    size, lines = server.download(f"/v1/files/{final['output_file_id']}/content")
    t_end = time.perf_counter()
    expected = data.count(b"\n")
    if lines != expected or final["request_counts"]["completed"] != expected:
        raise RuntimeError(f"output has {lines} lines, expected {expected}")
    for file_id in (f["id"], final["output_file_id"]):
        server.request("DELETE", f"/v1/files/{file_id}")
    return {"total": t_end - t0, "upload": t_upload - t0, "wait": t_done - t_upload, "download": t_end - t_done,
            "bytes": size, "latencies": polled["latencies"]}


def run_batches(server: Server, args: argparse.Namespace, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`args.runs` batches (each one `run()`) one after another on the same server: the run of median total time,
    the spread of the totals, and every poll's latency. (This machine's speed moves from run to run: the median of
    a few is what a user of it sees, one run alone is not.)"""
    runs = []
    for _ in range(args.runs):
        server.settle()
        runs.append(run())
    runs.sort(key=lambda r: r["total"])
    low, high = runs[0]["total"], runs[-1]["total"]
    spread = f"median of {len(runs)} (range {low:.2f}-{high:.2f} s); " if len(runs) > 1 else ""
    return {**runs[(len(runs) - 1) // 2], "spread": spread, "latencies": [x for r in runs for x in r["latencies"]]}


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def floor(data: bytes, out_bytes: int, dest: Path) -> float:
    """The least any implementation must do: parse every line once and write an output of the same size."""
    started = time.perf_counter()
    lines = data.splitlines()
    per_line = out_bytes // len(lines)
    with open(dest, "wb") as f:
        for raw in lines:
            obj = json.loads(raw)
            line = json.dumps({"custom_id": obj["custom_id"], "response": {"body": ""}}).encode()
            f.write(line[:-3] + b"x" * max(0, per_line - len(line) - 1) + line[-3:] + b"\n")
    return time.perf_counter() - started


def bench_chat(t: Table, args: argparse.Namespace, workdir: Path) -> None:
    data = chat_lines(args.lines)
    server = Server(workdir, "chat")
    try:
        server.request("GET", "/_mockbatch/health")
        with Memory(server) as mem:
            r = run_batches(server, args, lambda: run_batch(server, data, "/v1/chat/completions", args.poll_every, 600))
        base = statistics.median(floor(data, r["bytes"], workdir / "floor.jsonl") for _ in range(args.runs))
        n = f"{args.lines:,}"
        t.add(f"chat batch, {n} lines, end to end", r["total"], "s", args.chat_target,
              note=f"{r['spread']}{r['total'] / base:.1f}x the floor; upload {r['upload']:.2f} s, wait "
                   f"{r['wait']:.2f} s, download {r['download']:.2f} s, {r['bytes'] / MB:.0f} MB out")
        t.add("  floor: parse input + write same-size output", base, "s",
              note=f"one process, no server{f'; median of {args.runs}' if args.runs > 1 else ''}")
        t.add("  retrieve p99 during the chat batch", p99(r["latencies"]) * 1000, "ms", 100,
              note=f"{len(r['latencies'])} polls, max {max(r['latencies']) * 1000:.0f} ms")
        t.add("  server peak RSS during the chat batch", mem.peak / MB, "MB", note="server + workers")
    finally:
        server.stop()


def bench_embeddings(t: Table, args: argparse.Namespace, workdir: Path) -> None:
    data = embedding_lines(args.embedding_lines, args.dims)
    server = Server(workdir, "embeddings")
    try:
        server.request("GET", "/_mockbatch/health")
        with Memory(server) as mem:
            r = run_batches(server, args, lambda: run_batch(server, data, "/v1/embeddings", args.poll_every, 600))
        n = f"{args.embedding_lines:,}"
        t.add(f"embeddings batch, {n} lines x {args.dims} floats", r["total"], "s", args.embedding_target,
              note=f"{r['spread']}upload {r['upload']:.2f} s, wait {r['wait']:.2f} s, download "
                   f"{r['download']:.2f} s, {r['bytes'] / MB:,.0f} MB out")
        t.add("  server peak RSS during the embeddings batch", mem.peak / MB, "MB", 250, note="server + workers")
        t.add("  retrieve p99 during the embeddings batch", p99(r["latencies"]) * 1000, "ms", 100,
              note=f"{len(r['latencies'])} polls, max {max(r['latencies']) * 1000:.0f} ms")
    finally:
        server.stop()


def run_message_batch(server: Server, body: bytes, n: int, poll_every: float, limit: float) -> dict[str, Any]:
    """Create a Message Batch over HTTP, wait until it has ended, stream its results; times and the retrieve
    latencies of a poller process that watches Anthropic's retrieve path from the create's answer until the results
    are read (so they cover the results' conversion too). The batch is deleted afterwards (its files with it)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=600)
    conn.request("POST", "/v1/messages/batches", body=body,
                 headers={**ANTHROPIC, "content-type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"create: {resp.status} {raw[:300]!r}")
    batch = json.loads(raw)
    t_create = time.perf_counter()
    headers = [a for k, v in ANTHROPIC.items() for a in ("--header", f"{k}: {v}")]
    poller = subprocess.Popen([sys.executable, str(HERE / "poll.py"), server.host, str(server.port), batch["id"],
                               str(poll_every), str(limit), "--path", "/v1/messages/batches/{id}", *headers,
                               "--until-stdin-closes"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert poller.stdin is not None and poller.stdout is not None
    try:
        seen = poller.stdout.readline().strip()
        t_done = time.perf_counter()
        size = lines = 0
        if seen == "ended":
            size, lines = server.download(f"/v1/messages/batches/{batch['id']}/results", ANTHROPIC)
        t_end = time.perf_counter()
    finally:
        poller.stdin.close()
        out = poller.stdout.read()
        poller.wait()
    polled = json.loads(out)
    final = polled["batch"]
    if seen != "ended" or final.get("request_counts", {}).get("succeeded") != n:
        raise RuntimeError(f"message batch did not end with {n} succeeded: {json.dumps(final)[:500]}")
    if lines != n:
        raise RuntimeError(f"results have {lines} lines, expected {n}")
    server.request("DELETE", f"/v1/messages/batches/{batch['id']}", headers=ANTHROPIC)
    return {"total": t_end - t0, "create": t_create - t0, "wait": t_done - t_create, "results": t_end - t_done,
            "bytes": size, "latencies": polled["latencies"]}


def bench_anthropic(t: Table, args: argparse.Namespace, workdir: Path) -> None:
    n = args.message_requests
    body = message_batch_body(n)
    server = Server(workdir, "anthropic")
    try:
        server.request("GET", "/_mockbatch/health")
        small = message_batch_body(10)  # first-use code paths, as the chat bench's first batch is not alone
        run_message_batch(server, small, 10, args.poll_every, 60)
        with Memory(server) as mem:
            r = run_batches(server, args, lambda: run_message_batch(server, body, n, args.poll_every, 600))
        latencies = r["latencies"]
        t.add(f"anthropic message batch, {n:,} requests, end to end", r["total"], "s", args.anthropic_target,
              note=f"{r['spread']}create {r['create']:.2f} s ({len(body) / MB:.1f} MB body), wait {r['wait']:.2f} s, "
                   f"results {r['results']:.2f} s, {r['bytes'] / MB:.0f} MB out")
        t.add("  retrieve p99 during the anthropic batch", p99(latencies) * 1000, "ms", 100,
              note=f"{len(latencies)} polls of GET /v1/messages/batches/{{id}} from create's answer to the last "
                   f"result line, max {max(latencies) * 1000:.0f} ms")
        t.add("  server peak RSS during the anthropic batch", mem.peak / MB, "MB", note="server + workers")
    finally:
        server.stop()


def bench_upload(t: Table, args: argparse.Namespace, workdir: Path) -> None:
    line = json.dumps({"custom_id": "request-000000000", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 200}]}})
    line_bytes = (line + "\n").encode()
    count = args.upload_mb * MB // len(line_bytes)
    block = line_bytes * 1000

    def chunks() -> Iterator[bytes]:
        left = count
        while left > 0:
            k = min(left, 1000)
            yield block[: k * len(line_bytes)]
            left -= k

    server = Server(workdir, "upload")
    try:
        server.upload("warm.jsonl", pieces(chat_lines(100)), len(chat_lines(100)))  # first-use code paths
        server.settle()
        with Memory(server, main_only=True) as mem:
            before = mem.current()
            started = time.perf_counter()
            f = server.upload("big.jsonl", chunks, count * len(line_bytes))
            took = time.perf_counter() - started
        assert f["bytes"] == count * len(line_bytes), f
        t.add(f"{args.upload_mb} MB upload: server peak RSS growth", (mem.peak - before) / MB, "MB", 50,
              note=f"server process; took {took:.1f} s ({f['bytes'] / MB / took:.0f} MB/s); its worker "
                   f"processes hold {mem.workers() / MB:.0f} MB beside it")
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def throughput(host: str, port: int, path: str, seconds: float, connections: int) -> tuple[float, str]:
    """Requests per second on keep-alive connections: wrk when installed, else Python threads."""
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-H",
                              f"Authorization: {AUTH['authorization']}", f"http://{host}:{port}{path}"],
                             capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in out:
            raise RuntimeError(f"errors while measuring throughput:\n{out}")
        return float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)), "wrk"  # type: ignore[union-attr]
    counts = [0] * connections
    deadline = time.monotonic() + seconds

    def loop(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < deadline:
            conn.request("GET", path, headers=AUTH)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"throughput: {resp.status}")
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts) / (time.monotonic() - started), "python threads"


def bench_retrieve(t: Table, args: argparse.Namespace, workdir: Path) -> None:
    server = Server(workdir, "retrieve")
    bare = None
    try:
        data = chat_lines(10)
        f = server.upload("input.jsonl", pieces(data), len(data))
        batch = server.request("POST", "/v1/batches", {"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                                       "completion_window": "24h"})
        deadline = time.monotonic() + 30
        while batch["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
            batch = server.request("GET", f"/v1/batches/{batch['id']}")
        (workdir / "batch.json").write_text(json.dumps(batch))  # the bare route answers the same object
        port = _free_port()
        bare = subprocess.Popen([sys.executable, str(HERE / "bare.py"), str(port), str(workdir / "batch.json")],
                                stdout=subprocess.PIPE, text=True)
        assert bare.stdout is not None and bare.stdout.readline().strip() == "ready"
        for _ in range(100):  # wait until it accepts connections
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.02)
        path = f"/v1/batches/{batch['id']}"
        throughput(server.host, server.port, path, 0.5, args.connections)  # warm both
        throughput("127.0.0.1", port, path, 0.5, args.connections)
        ours, bares, client = [], [], ""
        for _ in range(args.rounds):  # interleaved, so background noise hits both alike
            r, client = throughput(server.host, server.port, path, args.retrieve_seconds, args.connections)
            ours.append(r)
            bares.append(throughput("127.0.0.1", port, path, args.retrieve_seconds, args.connections)[0])
        mine, theirs = statistics.median(ours), statistics.median(bares)
        t.add("retrieve throughput / bare Starlette JSON route", mine / theirs, "x", 0.5, higher_is_better=True,
              note=f"{mine:,.0f} vs {theirs:,.0f} req/s ({client}, {args.connections} connections, "
                   f"median of {args.rounds})")
    finally:
        server.stop()
        if bare is not None:
            bare.terminate()
            bare.wait()



def bench_webhooks(t: Table, args: argparse.Namespace, workdir: Path) -> None:
    """Batches ending one after another on the real clock, each event delivered to a local receiver: how long from
    a batch's create to its event's arrival (the scheduler's tick, the delivery task and the POST)."""
    from mockbatch.receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        server = Server(workdir, "webhooks", "--webhook-url", receiver.url)
        try:
            data = chat_lines(1)
            f = server.upload("input.jsonl", pieces(data), len(data))
            created: dict[str, float] = {}
            started = time.perf_counter()
            for _ in range(args.webhook_batches):
                b = server.request("POST", "/v1/batches", {"input_file_id": f["id"], "completion_window": "24h",
                                                           "endpoint": "/v1/chat/completions"})
                created[b["id"]] = time.time()
            got = receiver.wait(args.webhook_batches, timeout=120)
            elapsed = time.perf_counter() - started
        finally:
            server.stop()
    latencies = [d.received_at - created[d.json()["data"]["id"]] for d in got]
    distinct = len({d.headers["webhook-id"] for d in got})
    t.add("batch create to its webhook received, p99", p99(latencies) * 1000, "ms", 1000,
          note=f"{len(created)} batches created back to back, {distinct} distinct deliveries received (median "
               f"{statistics.median(latencies) * 1000:.0f} ms; all in {elapsed:.2f} s)")


READY = """
import json, sys, time, urllib.request
from mockbatch.server import MockBatchServer
db = sys.argv[1]
times = []
for i in range(3):
    started = time.perf_counter()
    mb = MockBatchServer(db=f"{db}.{i}", clock="manual", start_time=1_750_000_000).start()
    times.append(time.perf_counter() - started)
    if i < 2:
        mb.stop()
def call(method, path, body=None, data=None, headers=None):
    req = urllib.request.Request(mb.url + path, data=data if data is not None else (
        json.dumps(body).encode() if body is not None else None), method=method,
        headers={"authorization": "Bearer sk-bench", "content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())
boundary = "b0undary"
line = json.dumps({"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}})
form = (f"--{boundary}\\r\\nContent-Disposition: form-data; name=\\"purpose\\"\\r\\n\\r\\nbatch\\r\\n"
        f"--{boundary}\\r\\nContent-Disposition: form-data; name=\\"file\\"; filename=\\"in.jsonl\\"\\r\\n\\r\\n"
        f"{line}\\n" * 1 + f"\\r\\n--{boundary}--\\r\\n").encode()
resets = []
for _ in range(7):
    for _ in range(3):  # a typical test's leftovers: a few files and a finished batch
        f = call("POST", "/v1/files", data=form, headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        b = call("POST", "/v1/batches", {"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                         "completion_window": "24h"})
    mb.advance(100)
    started = time.perf_counter()
    mb.reset()
    resets.append(time.perf_counter() - started)
mb.stop()
print(json.dumps({"ready": times, "reset": resets}))
"""


def bench_startup(t: Table, workdir: Path) -> None:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mockbatch.server"], cwd=ROOT, check=True)
    imported = time.perf_counter() - started
    out = subprocess.run([sys.executable, "-c", READY, str(workdir / "ready.sqlite3")], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    t.add("MockBatchServer ready (first start in a process)", r["ready"][0] * 1000, "ms", 300,
          note=f"later starts {min(r['ready'][1:]) * 1000:.0f} ms; interpreter + import {imported * 1000:.0f} ms "
               "not counted")
    t.add("reset (median of 7, over HTTP)", statistics.median(r["reset"]) * 1000, "ms", 20,
          note=f"max {max(r['reset']) * 1000:.0f} ms; 3 files + 3 finished batches each time")


# -- main ------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that the bench runs, not the targets")
    p.add_argument("--lines", type=int, default=50_000, help="chat batch lines")
    p.add_argument("--embedding-lines", type=int, default=50_000)
    p.add_argument("--dims", type=int, default=1536)
    p.add_argument("--message-requests", type=int, default=100_000,
                   help="requests of the anthropic Message Batch (Anthropic's limit: 100,000)")
    p.add_argument("--upload-mb", type=int, default=200)
    p.add_argument("--retrieve-seconds", type=float, default=3.0)
    p.add_argument("--runs", type=int, default=3, help="batches per batch figure (the median is reported)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--poll-every", type=float, default=0.01, help="seconds between the poller's requests")
    p.add_argument("--webhook-batches", type=int, default=500, help="batches whose events the webhook figure times")
    p.add_argument("--only", default="chat,embeddings,anthropic,upload,retrieve,startup,webhooks",
                   help="comma-separated scenarios to run")
    p.add_argument("--chat-target", type=float, default=2.5)
    p.add_argument("--embedding-target", type=float, default=10.0)
    p.add_argument("--anthropic-target", type=float, default=10.0)
    args = p.parse_args()
    if args.quick:
        args.lines, args.embedding_lines, args.message_requests, args.upload_mb = 200, 50, 100, 2
        args.retrieve_seconds, args.rounds, args.webhook_batches = 1.0, 1, 10
    only = set(args.only.split(","))
    table = Table()
    workdir = Path(tempfile.mkdtemp(prefix="mockbatch-bench-"))
    try:
        if "chat" in only:
            bench_chat(table, args, workdir)
        if "embeddings" in only:
            bench_embeddings(table, args, workdir)
        if "anthropic" in only:
            bench_anthropic(table, args, workdir)
        if "upload" in only:
            bench_upload(table, args, workdir)
        if "retrieve" in only:
            bench_retrieve(table, args, workdir)
        if "startup" in only:
            bench_startup(table, workdir)
        if "webhooks" in only:
            bench_webhooks(table, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nmockbatch benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]})\n")
    print(table.render())
    misses = [r.name.strip() for r in table.rows if r.verdict == "MISS"]
    print(f"\n{len(misses)} target(s) missed" + (": " + "; ".join(misses) if misses else ""))


if __name__ == "__main__":
    main()
