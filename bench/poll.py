"""Poll one batch from its own process until it ends; print the latencies and the final object as JSON.

Run by bench/run.py beside a batch, so the poller's timings show how long the server's event loop keeps a
client waiting while the batch's work runs, untouched by the bench's own CPU use.

    poll.py HOST PORT BATCH_ID INTERVAL LIMIT [--path PATH] [--header NAME:VALUE ...] [--until-stdin-closes]

`--path` is the retrieve path (`{id}` stands for BATCH_ID; default OpenAI's `/v1/batches/{id}`), `--header` replaces
the default `authorization: Bearer sk-bench` (Anthropic's: `x-api-key` and `anthropic-version`). A batch has ended
when its `status` is terminal (OpenAI's) or its `processing_status` is "ended" (Anthropic's). With
`--until-stdin-closes` the poller prints `ended` on a line of its own when it first sees the batch ended and goes on
polling until its stdin is closed, so the latencies also cover what the bench does next (downloading the results).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def ended(batch: dict) -> bool:
    return batch.get("status") in TERMINAL or batch.get("processing_status") == "ended"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("batch_id")
    p.add_argument("interval", type=float)
    p.add_argument("limit", type=float)
    p.add_argument("--path", default="/v1/batches/{id}")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--until-stdin-closes", action="store_true")
    args = p.parse_args()
    headers = dict(h.split(":", 1) for h in args.header) or {"authorization": "Bearer sk-bench"}
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    path = args.path.replace("{id}", args.batch_id)
    closed = threading.Event()
    if args.until_stdin_closes:
        threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    conn = http.client.HTTPConnection(args.host, args.port, timeout=60)
    latencies: list[float] = []
    batch: dict = {}
    said = False
    deadline = time.monotonic() + args.limit
    while time.monotonic() < deadline and not closed.is_set():
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        latencies.append(time.perf_counter() - started)
        if resp.status != 200:
            batch = {"poll_error": resp.status, "body": body.decode(errors="replace")}
            break
        batch = json.loads(body)
        if ended(batch):
            if not args.until_stdin_closes:
                break
            if not said:
                print("ended", flush=True)
                said = True
        time.sleep(args.interval)
    if args.until_stdin_closes and not said:
        print("ended" if ended(batch) else "not ended", flush=True)  # the bench waits for this line
    if args.until_stdin_closes:
        closed.wait(max(0.0, deadline - time.monotonic()))
    json.dump({"latencies": latencies, "batch": batch}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)  # the bench waits for this process: skip the interpreter's teardown, which is not the server's time


if __name__ == "__main__":
    main()
