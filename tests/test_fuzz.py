"""Fuzzing: schemathesis against the server's own /openapi.json (no server error, no answer the document
does not describe), and Hypothesis against the JSONL validator (never raises, errors in line order)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_spec
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mockbatch import catalog
from mockbatch.api.openapi import DOCUMENT
from mockbatch.server import MockBatchServer
from mockbatch.validation import validate
from tests.conftest import START

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Derandomized, so the suite is repeatable; raise max_examples and drop derandomize for a deeper search.
HEADERS = {"Authorization": "Bearer sk-fuzz"}


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[MockBatchServer]:
    with MockBatchServer(clock="manual", seed=3, start_time=START) as server:
        client = httpx.Client(base_url=server.url, headers=HEADERS)
        line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
        f = client.post("/v1/files", files={"file": ("in.jsonl", json.dumps(line).encode())},
                        data={"purpose": "batch"}).json()
        client.post("/v1/batches", json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                         "completion_window": "24h"})
        yield server


# The document is read in-process to parametrize by operation; only schemathesis' plain API is used (its pytest
# integration reaches into pytest internals and broke on pytest 9.2).
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT).exclude(
    operation_id=["useScenario"])  # switching scenarios on purpose could turn on injected faults
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}


def test_the_document_is_valid_openapi(fuzzed: MockBatchServer) -> None:
    document = httpx.get(fuzzed.url + "/openapi.json").json()
    assert document == json.loads(json.dumps(DOCUMENT))  # what is fuzzed below is what the server serves
    validate_spec(document)
    described = set(document["paths"])
    assert {"/v1/files", "/v1/batches/{batch_id}/cancel", "/v1/uploads/{upload_id}/parts",
            "/_mockbatch/clock/advance"} <= described
    assert len(OPERATIONS) >= 20


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_the_server_answers_as_its_document_says(label: str, fuzzed: MockBatchServer) -> None:
    @given(OPERATIONS[label].as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def answers(case: Any) -> None:
        case.call_and_validate(base_url=fuzzed.url, headers=HEADERS, checks=CHECKS, timeout=30)

    answers()


# -- the JSONL validator -------------------------------------------------------------------------------
def line_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6),
                                                                                            inner, max_size=3),
                        max_leaves=8)


def request_lines() -> st.SearchStrategy[bytes]:
    """Lines near and far from valid: real requests with fields dropped or mangled, JSON of any shape, and
    bytes that are not JSON at all."""
    good = st.fixed_dictionaries({
        "custom_id": st.text(max_size=4) | st.integers(),
        "method": st.sampled_from(["POST", "GET", "post"]),
        "url": st.sampled_from([catalog.CHAT, catalog.EMBEDDINGS, "/v1/nope"]),
        "body": st.fixed_dictionaries({"model": st.sampled_from(["gpt-4o-mini", "gpt-4o", "nope", 7])},
                                      optional={"messages": line_values(), "stream": st.booleans()}),
    }).flatmap(lambda d: st.sets(st.sampled_from(sorted(d)), max_size=2).map(
        lambda drop: {k: v for k, v in d.items() if k not in drop}))
    as_json = (good | line_values()).map(lambda v: json.dumps(v).encode())
    return as_json | st.binary(max_size=40) | st.sampled_from([b"", b"   ", b"\xef\xbb\xbf{}", b"{\"a\": NaN}",
                                                               b"[" * 5000, b"\r"])


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(request_lines(), max_size=12), st.sampled_from([catalog.CHAT, catalog.EMBEDDINGS]))
def test_the_validator_never_raises_and_reports_errors_in_line_order(lines: list[bytes], endpoint: str) -> None:
    report = validate(iter(lines), endpoint)
    numbered = [e["line"] for e in report.errors if e["line"] is not None]
    assert numbered == sorted(numbered)
    assert all(1 <= n <= len(lines) for n in numbered)
    assert len({e["line"] for e in report.errors if e["line"] is not None}) == len(numbered)  # one error a line
    for error in report.errors:
        assert set(error) >= {"code", "message", "param", "line"} and error["message"]
    assert report.ok == (not report.errors)
    if report.ok:  # every line that is not blank (a BOM opening the file aside) became a request
        lines = [lines[0].removeprefix(b"\xef\xbb\xbf"), *lines[1:]] if lines else lines
        assert len(report.requests) == sum(1 for line in lines if line.strip())
