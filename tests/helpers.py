"""Building input files and reading output files in tests."""

from __future__ import annotations

import json
from typing import Any

import openai
from openai.types import Batch, FileObject

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


def chat_line(i: int, model: str = "gpt-4o-mini", **body: Any) -> dict[str, Any]:
    return {"custom_id": f"request-{i}", "method": "POST", "url": CHAT,
            "body": {"model": model, "messages": [{"role": "user", "content": f"Say hello #{i}"}], **body}}


def embedding_line(i: int, model: str = "text-embedding-3-small", **body: Any) -> dict[str, Any]:
    return {"custom_id": f"embed-{i}", "method": "POST", "url": EMBEDDINGS,
            "body": {"model": model, "input": f"text number {i}", **body}}


def jsonl(lines: list[Any]) -> bytes:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()


def upload(client: openai.OpenAI, lines: list[Any], name: str = "input.jsonl") -> FileObject:
    return client.files.create(file=(name, jsonl(lines)), purpose="batch")


def start_batch(client: openai.OpenAI, lines: list[Any], endpoint: str = CHAT, **kw: Any) -> Batch:
    f = upload(client, lines)
    return client.batches.create(input_file_id=f.id, endpoint=endpoint, completion_window="24h", **kw)  # type: ignore[arg-type]


def strict_json(text: str | bytes) -> Any:
    """JSON as a strict parser reads it: `NaN`, `Infinity` and `-Infinity` (which `json.loads` takes) refused."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def read_jsonl(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    """Every line of an output or error file, each parsed strictly (so every test that reads one checks it)."""
    if file_id is None:
        return []
    return [strict_json(line) for line in client.files.content(file_id).text.splitlines()]


def assert_every_field(obj: Any, model: type) -> None:
    """Every field the SDK type declares is present on the wire (nulls included)."""
    raw = obj.model_dump(exclude_unset=False) if hasattr(obj, "model_dump") else obj
    missing = set(model.model_fields) - set(obj.model_fields_set if hasattr(obj, "model_fields_set") else raw)
    assert not missing, f"{model.__name__} is missing {sorted(missing)}"


def worker_processes() -> list[int]:
    """The pids of this process's mockbatch worker processes, read from /proc (what the OS sees, not what the
    server believes)."""
    import os
    from pathlib import Path

    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        if ppid == me and b"serve_worker" in cmdline:
            found.append(int(stat.parent.name))
    return found


def webhook_signature(secret: str, delivery: Any) -> str:
    """The Standard Webhooks signature of a received delivery with `secret`, computed here from the spec rather
    than by the server's code."""
    import base64
    import hashlib
    import hmac

    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery.headers['webhook-id']}.{delivery.headers['webhook-timestamp']}.".encode() + delivery.body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verifies(client: openai.OpenAI, delivery: Any, secret: str) -> bool:
    """Whether the SDK's check accepts a received delivery with `secret`."""
    try:
        client.webhooks.verify_signature(delivery.body, delivery.headers, secret=secret)
    except openai.InvalidWebhookSignatureError:
        return False
    return True
