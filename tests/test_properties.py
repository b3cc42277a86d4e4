"""Property tests through a real server: input lines with lone surrogates, huge and non-finite numbers, deep
nesting and odd types. Whatever the lines, the batch ends within a few clock moves, every line of its output
and error files is strict JSON, the worker processes stay at their number, and every call is answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockbatch.server import MockBatchServer
from tests.conftest import START
from tests.helpers import worker_processes

WORKERS = 1
TERMINAL = {"completed", "failed", "expired", "cancelled"}
ENDPOINTS = {
    "/v1/chat/completions": ("gpt-4o-mini", "messages"),
    "/v1/responses": ("gpt-4o-mini", "input"),
    "/v1/embeddings": ("text-embedding-3-small", "input"),
    "/v1/moderations": ("omni-moderation-latest", "input"),
}
# Numbers JSON allows but Python's float does not hold (1e999 parses as inf), or holds only as a big int.
RAW_NUMBERS = ["1e999", "-1e999", "1e-999", "123456789012345678901234567890123456789", "-0", "0.1e400"]
NUMBER = "\x00number:{}\x00"  # a placeholder swapped for a raw number's text once the line is JSON


def strict(text: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def odd_strings() -> st.SearchStrategy[str]:
    lone = st.sampled_from(["\ud83d", "\udc80", "\udfff", "\ud800"])
    return st.lists(st.one_of(lone, st.text(max_size=4)), max_size=4).map("".join)


def odd_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        odd_strings(), st.sampled_from(range(len(RAW_NUMBERS))).map(NUMBER.format))
    nested = st.integers(min_value=1, max_value=400).map(lambda depth: json.loads("[" * depth + "]" * depth))
    return st.recursive(st.one_of(scalars, nested), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        odd_strings(), inner, max_size=3), max_leaves=6)


@st.composite
def batches(draw: Any) -> tuple[str, bytes]:
    endpoint = draw(st.sampled_from(sorted(ENDPOINTS)))
    model, field = ENDPOINTS[endpoint]
    lines = []
    for i in range(draw(st.integers(min_value=1, max_value=6))):
        content = draw(odd_strings())
        body: dict[str, Any] = {"model": model, field: [{"role": "user", "content": content}]
                                if field == "messages" else content}
        for key in draw(st.lists(st.sampled_from(["temperature", "n", "max_tokens", "user", "metadata", "top_p",
                                                  "seed", "dimensions", "stop", "tools", "text", "extra"]),
                                 max_size=3, unique=True)):
            body[key] = draw(odd_values())
        custom_id = draw(st.one_of(st.just(f"line-{i}"), odd_strings().map(lambda s, i=i: f"{s}-{i}")))
        lines.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}))
    text = "\n".join(lines)
    for n, raw in enumerate(RAW_NUMBERS):
        text = text.replace(json.dumps(NUMBER.format(n)), raw)
    return endpoint, text.encode()


@pytest.fixture(scope="module")
def prop_server() -> Iterator[MockBatchServer]:
    with MockBatchServer(clock="manual", seed=5, start_time=START, workers=WORKERS) as server:
        yield server


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=batches())
def test_any_lines_end_in_a_terminal_batch_with_strict_json_files(prop_server: MockBatchServer,
                                                                   batch: tuple[str, bytes]) -> None:
    endpoint, data = batch
    api = httpx.Client(base_url=prop_server.base_url, headers={"Authorization": "Bearer sk-prop"}, timeout=30)
    with api:
        upload = api.post("/files", files={"file": ("in.jsonl", data)}, data={"purpose": "batch"})
        assert upload.status_code in (200, 400), upload.text
        strict(upload.content)
        if upload.status_code == 400:  # a first line that is not JSON (deep nesting) is refused at upload
            assert upload.json()["error"]["message"] == "Invalid file format for Batch API. Must be .jsonl"
            return
        created = api.post("/batches", json={"input_file_id": upload.json()["id"], "endpoint": endpoint,
                                             "completion_window": "24h"})
        assert created.status_code == 200, created.text
        batch_id = created.json()["id"]
        for _ in range(3):  # each move is a day: three are more than any batch here needs
            prop_server.advance(86400)
            answer = api.get(f"/batches/{batch_id}")
            assert answer.status_code == 200
            if strict(answer.content)["status"] in TERMINAL:
                break
        view = strict(answer.content)
        assert view["status"] in TERMINAL
        assert api.get("/batches", params={"limit": 3}).status_code == 200
        for file_id in (view["output_file_id"], view["error_file_id"]):
            if file_id is not None:
                content = api.get(f"/files/{file_id}/content")
                assert content.status_code == 200
                for line in content.content.splitlines():
                    strict(line)
    assert len(worker_processes()) <= WORKERS
    prop_server.check()  # no exception inside the server, not even one that failed a line alone
