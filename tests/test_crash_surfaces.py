"""State survives `kill -9` on every surface: an Anthropic Message Batch and an Azure batch, each killed mid-flight
(`mockbatch serve` on the manual clock), carry on after a restart on the same database and finish with every
request answered once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.helpers import chat_line, jsonl
from tests.serving import ServeProcess, free_port

ANTHROPIC = {"x-api-key": "sk-ant-crash", "anthropic-version": "2023-06-01"}
AZURE = {"api-key": "azure-crash"}
ARGS = ("--clock", "manual", "--seed", "9", "--start-time", "2025-06-01T00:00:00Z", "--workers", "0")


def serve(db: Path, port: int) -> ServeProcess:
    return ServeProcess("--db", str(db), *ARGS, port=port).start()


def test_kill_9_mid_flight_on_the_anthropic_and_azure_surfaces(tmp_path: Path) -> None:
    db, port = tmp_path / "surfaces.sqlite3", free_port()
    server = serve(db, port)
    try:
        requests = [{"custom_id": f"q-{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 64,
                                                       "messages": [{"role": "user", "content": f"hi {i}"}]}}
                    for i in range(20)]
        message_batch = httpx.post(f"{server.url}/v1/messages/batches", headers=ANTHROPIC,
                                   json={"requests": requests}, timeout=30).json()
        f = httpx.post(f"{server.url}/openai/files?api-version=2024-10-21", headers=AZURE, timeout=30,
                       files={"file": ("in.jsonl", jsonl([chat_line(i) for i in range(20)]))},
                       data={"purpose": "batch"}).json()
        azure_batch = httpx.post(f"{server.url}/openai/batches?api-version=2024-10-21", headers=AZURE, timeout=30,
                                 json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                       "completion_window": "24h"}).json()
        server.advance(5)  # validated, and some lines done: both in flight
        assert httpx.get(f"{server.url}/v1/messages/batches/{message_batch['id']}", headers=ANTHROPIC,
                         timeout=30).json()["processing_status"] == "in_progress"
        assert httpx.get(f"{server.url}/openai/batches/{azure_batch['id']}?api-version=2024-10-21", headers=AZURE,
                         timeout=30).json()["status"] == "in_progress"
        server.kill()

        server = serve(db, port)  # the same database, after SIGKILL
        server.advance(3600)
        ended = httpx.get(f"{server.url}/v1/messages/batches/{message_batch['id']}", headers=ANTHROPIC,
                          timeout=30).json()
        assert ended["processing_status"] == "ended" and ended["request_counts"]["succeeded"] == 20
        results = httpx.get(f"{server.url}/v1/messages/batches/{message_batch['id']}/results", headers=ANTHROPIC,
                            timeout=30).content.splitlines()
        assert sorted(json.loads(line)["custom_id"] for line in results) == sorted(f"q-{i}" for i in range(20))
        done = httpx.get(f"{server.url}/openai/batches/{azure_batch['id']}?api-version=2024-10-21", headers=AZURE,
                         timeout=30).json()
        assert done["status"] == "completed" and done["request_counts"]["completed"] == 20
        output = httpx.get(f"{server.url}/openai/files/{done['output_file_id']}/content?api-version=2024-10-21",
                           headers=AZURE, timeout=30).content.splitlines()
        assert sorted(json.loads(line)["custom_id"] for line in output) == sorted(f"request-{i}" for i in range(20))
    finally:
        server.stop()
