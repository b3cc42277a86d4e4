"""Poll one batch from its own process until it ends; print the latencies and the final object as JSON.

Run by bench/run.py beside a batch, so the poller's timings show how long the server's event loop keeps a
client waiting while the batch's work runs, untouched by the bench's own CPU use.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def main() -> None:
    host, port, batch_id, interval, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(
        sys.argv[5])
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"authorization": "Bearer sk-bench"}
    latencies: list[float] = []
    batch: dict = {}
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = time.perf_counter()
        conn.request("GET", f"/v1/batches/{batch_id}", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        latencies.append(time.perf_counter() - started)
        if resp.status != 200:
            batch = {"poll_error": resp.status, "body": body.decode(errors="replace")}
            break
        batch = json.loads(body)
        if batch["status"] in TERMINAL:
            break
        time.sleep(interval)
    json.dump({"latencies": latencies, "batch": batch}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)  # the bench waits for this process: skip the interpreter's teardown, which is not the server's time


if __name__ == "__main__":
    main()
