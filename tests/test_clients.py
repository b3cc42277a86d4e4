"""The client matrix: the whole batch flow through openai-python's async client, openai-node (tests/node/flow.mjs,
run with `node`) and LiteLLM's batch API, each against a real server on the manual clock.

Every flow uploads the same input, polls a batch to its end a virtual second at a time, downloads its output and
error files, uploads the input again in parts (where the client can), cancels a second batch once one request has
run, and lists both batches a page at a time. It reports what it saw in one shape, which `check` judges, together
with the server's request journal."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest

from mockbatch.server import MockBatchServer
from tests.helpers import chat_line, jsonl

NODE_DIR = Path(__file__).parent / "node"
INPUT = jsonl([*(chat_line(i) for i in range(3)), {**chat_line(3, n=129), "custom_id": "bad-n"}])  # n > 128: a 400
PART = 200  # bytes per part of the chunked upload, so the input goes in several parts
TERMINAL = ("completed", "failed", "expired", "cancelled")


def check(server: MockBatchServer, report: dict[str, Any], chunked: bool) -> None:
    first, second = report["ids"]
    assert report["statuses"] == ["validating", "in_progress", "in_progress", "finalizing", "completed"]
    assert report["counts"] == {"total": 4, "completed": 3, "failed": 1}
    assert report["results"] == {"request-0": ["output", 200], "request-1": ["output", 200],
                                 "request-2": ["output", 200], "bad-n": ["error", 400]}
    assert report["cancel"] == ["cancelling", "cancelled"]
    cancelled = report["cancelled"]  # one request ran before the cancel; the other three never will
    assert sorted(cancelled) == ["bad-n", "request-0", "request-1", "request-2"]
    ran = [v for v in cancelled.values() if v != ["error", "batch_cancelled"]]
    assert len(ran) == 1 and ran[0] in (["output", 200], ["error", 400]), cancelled
    assert report["pages"] == [[second], [first]]  # newest first, one per page
    if "all" in report:  # the SDK's own auto-pagination
        assert report["all"] == [second, first]
    if chunked:
        assert report["upload"] == {"status": "completed", "bytes": len(INPUT), "same": True}
    journal = server.requests()
    assert [e for e in journal if e["status"] >= 400 or e["retry_count"]] == []
    ops = Counter(e["operation"] for e in journal)
    assert {"files.create", "batches.create", "batches.retrieve", "files.content", "batches.cancel",
            "batches.list"} <= set(ops)
    assert (ops["uploads.create"], ops["uploads.parts.create"], ops["uploads.complete"]) == (
        (1, -(-len(INPUT) // PART), 1) if chunked else (0, 0, 0))


def results(**files: str) -> dict[str, list[Any]]:
    """custom_id -> [the file it is in, its status code or error code], as flow.mjs reports it."""
    return {r["custom_id"]: [kind, r["error"]["code"] if r["error"] else r["response"]["status_code"]]
            for kind, text in files.items() for r in map(json.loads, text.splitlines())}


async def test_openai_python_async(server: MockBatchServer) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        async def download(file_id: str | None) -> str:
            return (await client.files.content(file_id)).text if file_id else ""

        async def outcome(b: Any) -> dict[str, list[Any]]:
            return results(output=await download(b.output_file_id), error=await download(b.error_file_id))

        async def create(file_id: str) -> Any:
            return await client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                               completion_window="24h")

        file = await client.files.create(file=("input.jsonl", INPUT), purpose="batch")
        batch = await create(file.id)
        statuses = [batch.status]
        while batch.status not in TERMINAL:
            server.advance(1)
            batch = await client.batches.retrieve(batch.id)
            statuses.append(batch.status)

        upload = await client.uploads.upload_file_chunked(
            file=INPUT, filename="chunked.jsonl", bytes=len(INPUT), mime_type="text/jsonl", purpose="batch",
            part_size=PART, md5=hashlib.md5(INPUT).hexdigest())
        assert upload.file is not None
        copy = (await client.files.content(upload.file.id)).content

        second = await create(upload.file.id)
        server.advance(1.5)
        cancel = [(await client.batches.cancel(second.id)).status]
        server.advance(1)
        second = await client.batches.retrieve(second.id)
        cancel.append(second.status)

        pages, page = [], await client.batches.list(limit=1)
        while True:
            pages.append([b.id for b in page.data])
            if not page.has_next_page():
                break
            page = await page.get_next_page()
        report = {
            "statuses": statuses,
            "counts": batch.request_counts.model_dump() if batch.request_counts else None,
            "results": await outcome(batch),
            "upload": {"status": upload.status, "bytes": upload.file.bytes, "same": copy == INPUT},
            "cancel": cancel,
            "cancelled": await outcome(second),
            "ids": [batch.id, second.id],
            "pages": pages,
            "all": [b.id async for b in client.batches.list(limit=1)],
        }
    check(server, report, chunked=True)


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with tests/node/node_modules installed from the lock file (`npm ci`) when it is
    missing or holds another version of openai-node. No node: the test is skipped; npm failing is a failure."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the openai-node flow needs Node.js 20 or later")
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    wanted = lock["packages"]["node_modules/openai"]["version"]
    installed = NODE_DIR / "node_modules" / "openai" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != wanted:
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install tests/node's packages"
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, f"npm ci failed in {NODE_DIR}:\n{proc.stdout}\n{proc.stderr}"
    return node


def test_openai_node(server: MockBatchServer, node: str, tmp_path: Path) -> None:
    (tmp_path / "input.jsonl").write_bytes(INPUT)
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test", "MOCKBATCH_URL": server.url,
           "INPUT_JSONL": str(tmp_path / "input.jsonl"), "PART_SIZE": str(PART)}
    proc = subprocess.run([node, "flow.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    check(server, json.loads(proc.stdout), chunked=True)


def test_litellm(server: MockBatchServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Offline: nothing fetched on LiteLLM's own account (the model cost map comes from the package, not GitHub).
    monkeypatch.setenv("LITELLM_OFFLINE_MODE", "true")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    monkeypatch.setattr(litellm, "suppress_debug_info", True)
    kw: dict[str, Any] = {"custom_llm_provider": "openai", "api_base": server.base_url, "api_key": "sk-test"}

    def download(file_id: str | None) -> str:
        return litellm.file_content(file_id=file_id, **kw).text if file_id else ""

    def outcome(b: Any) -> dict[str, list[Any]]:
        return results(output=download(b.output_file_id), error=download(b.error_file_id))

    def create(file_id: str) -> Any:
        return litellm.create_batch(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
                                    **kw)

    file = litellm.create_file(file=("input.jsonl", INPUT), purpose="batch", **kw)
    batch = create(file.id)
    statuses = [batch.status]
    while batch.status not in TERMINAL:
        server.advance(1)
        batch = litellm.retrieve_batch(batch.id, **kw)
        statuses.append(batch.status)

    second = create(file.id)  # LiteLLM has no Uploads API: the same file again
    server.advance(1.5)
    cancel = [litellm.cancel_batch(second.id, **kw).status]
    server.advance(1)
    second = litellm.retrieve_batch(second.id, **kw)
    cancel.append(second.status)

    pages: list[list[str]] = []
    after = None
    while True:
        page = litellm.list_batches(limit=1, after=after, **kw)
        pages.append([b.id for b in page.data])
        if not page.has_more:
            break
        after = page.last_id
    check(server, {
        "statuses": statuses,
        "counts": batch.request_counts.model_dump() if batch.request_counts else None,
        "results": outcome(batch),
        "cancel": cancel,
        "cancelled": outcome(second),
        "ids": [batch.id, second.id],
        "pages": pages,
    }, chunked=False)
