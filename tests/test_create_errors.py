"""The synchronous refusals: `POST /v1/batches` parameters and input file, and `POST /v1/files` uploads."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockbatch import validation
from mockbatch.clock import Clock
from mockbatch.engine import Files
from mockbatch.engine import files as files_module
from mockbatch.errors import InvalidRequest, PayloadTooLarge
from mockbatch.jobs import Runner
from mockbatch.server import MockBatchServer
from mockbatch.store import Store
from tests.conftest import START
from tests.helpers import chat_line, jsonl, read_jsonl, upload

AUTH = {"authorization": "Bearer sk-test"}
GOOD = {"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "completion_window": "24h"}


def envelope(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def post_batch(server: MockBatchServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/batches", json=body, headers=AUTH)


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def ttl(seconds: Any = 3600, anchor: Any = "created_at") -> dict[str, Any]:
    return {**GOOD, "output_expires_after": {"anchor": anchor, "seconds": seconds}}


def metadata(value: Any) -> dict[str, Any]:
    return {**GOOD, "metadata": value}


def bound(param: str, which: str, limit: int, got: int) -> dict[str, Any]:
    sign, code = (">=", "integer_below_min_value") if which == "below" else ("<=", "integer_above_max_value")
    return envelope(f"Invalid '{param}': integer {which} {'minimum' if which == 'below' else 'maximum'} value. "
                    f"Expected a value {sign} {limit}, but got {got} instead.", param, code)


REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    *[(f"missing-{key}", without(key),
       envelope(f"Missing required parameter: '{key}'.", key, "missing_required_parameter"))
      for key in ("input_file_id", "endpoint", "completion_window")],
    ("null-is-missing", {**GOOD, "endpoint": None},
     envelope("Missing required parameter: 'endpoint'.", "endpoint", "missing_required_parameter")),
    ("input_file_id-not-a-string", {**GOOD, "input_file_id": 5},
     envelope("Invalid type for 'input_file_id': expected a string, but got an integer instead.", "input_file_id",
              "invalid_type")),
    ("endpoint-unknown", {**GOOD, "endpoint": "/v1/invalid/endpoint"},
     envelope("Invalid value: '/v1/invalid/endpoint'. Supported values are: '/v1/chat/completions', "
              "'/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/moderations', '/v1/images/generations', "
              "'/v1/images/edits', and '/v1/videos'.", "endpoint", "invalid_value")),
    *[(f"completion_window-{window or 'empty'}", {**GOOD, "completion_window": window},
       envelope(f"Invalid value: '{window}'. Supported values are: '24h'.", "completion_window", "invalid_value"))
      for window in ("1h", "48h", "")],
    ("metadata-not-an-object", metadata(["a"]),
     envelope("Invalid type for 'metadata': expected an object, but got an array instead.", "metadata",
              "invalid_type")),
    ("metadata-17-properties", metadata({f"k{i}": "v" for i in range(17)}),
     envelope("Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an "
              "object with 17 properties instead.", "metadata", "object_above_max_properties")),
    ("metadata-key-65", metadata({"k" * 65: "v"}),
     envelope(f"Invalid property name in 'metadata': '{'k' * 65}' is too long. Expected a string with maximum length "
              "64, but got a string with length 65 instead.", f"metadata.{'k' * 65}",
              "property_name_above_max_length")),
    ("metadata-value-513", metadata({"k": "v" * 513}),
     envelope("Invalid 'metadata.k': string too long. Expected a string with maximum length 512, but got a string "
              "with length 513 instead.", "metadata.k", "string_above_max_length")),
    ("metadata-value-array", metadata({"tags": ["a"]}),
     envelope("Invalid type for 'metadata.tags': expected a string, but got an array instead.", "metadata.tags",
              "invalid_type")),
    ("metadata-value-integer", metadata({"n": 1}),
     envelope("Invalid type for 'metadata.n': expected a string, but got an integer instead.", "metadata.n",
              "invalid_type")),
    ("expires-not-an-object", {**GOOD, "output_expires_after": 3600},
     envelope("Invalid type for 'output_expires_after': expected an object, but got an integer instead.",
              "output_expires_after", "invalid_type")),
    ("expires-anchor-missing", {**GOOD, "output_expires_after": {"seconds": 3600}},
     envelope("Missing required parameter: 'output_expires_after.anchor'.", "output_expires_after.anchor",
              "missing_required_parameter")),
    ("expires-seconds-missing", {**GOOD, "output_expires_after": {"anchor": "created_at"}},
     envelope("Missing required parameter: 'output_expires_after.seconds'.", "output_expires_after.seconds",
              "missing_required_parameter")),
    ("expires-anchor-wrong", ttl(anchor="completed_at"),
     envelope("Invalid value: 'completed_at'. Supported values are: 'created_at'.", "output_expires_after.anchor",
              "invalid_value")),
    *[(f"expires-seconds-{kind}", ttl(seconds=value),
       envelope(f"Invalid type for 'output_expires_after.seconds': expected an integer, but got {kind} instead.",
                "output_expires_after.seconds", "invalid_type"))
      for value, kind in (("3600", "a string"), (True, "a boolean"), (3600.5, "a decimal"))],
    ("expires-below-3600", ttl(3599), bound("output_expires_after.seconds", "below", 3600, 3599)),
    ("expires-above-30-days", ttl(2_592_001), bound("output_expires_after.seconds", "above", 2_592_000, 2_592_001)),
]


@pytest.fixture(scope="module")
def shared() -> Iterator[MockBatchServer]:
    with MockBatchServer(clock="manual", seed=7, start_time=START) as server:
        yield server


@pytest.mark.parametrize(("body", "expected"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_create_refusals(shared: MockBatchServer, body: dict[str, Any], expected: dict[str, Any]) -> None:
    r = post_batch(shared, body)
    assert r.status_code == 400
    assert r.json() == expected


def test_limits_themselves_are_accepted(server: MockBatchServer, client: openai.OpenAI) -> None:
    f = upload(client, [chat_line(0)])
    for extra in ({"metadata": {f"k{i:02d}" + "k" * 61: "v" * 512 for i in range(16)}},
                  {"metadata": None},
                  {"output_expires_after": {"anchor": "created_at", "seconds": 3600}},
                  {"output_expires_after": {"anchor": "created_at", "seconds": 2_592_000}}):
        r = post_batch(server, {**GOOD, "input_file_id": f.id, **extra})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "validating"


def test_the_sdk_sees_the_same_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.batches.create(input_file_id="file-x", endpoint="/v1/chat/completions",
                              completion_window="1h")  # type: ignore[arg-type]
    assert err.value.body == envelope("Invalid value: '1h'. Supported values are: '24h'.", "completion_window",
                                      "invalid_value")["error"]
    assert err.value.code == "invalid_value" and err.value.param == "completion_window"


def test_input_file_of_another_purpose(client: openai.OpenAI) -> None:
    f = client.files.create(file=("notes.jsonl", jsonl([chat_line(0)])), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as err:
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert err.value.body == envelope(f"Invalid file purpose 'user_data' for input_file_id '{f.id}': expected 'batch'.",
                                      "input_file_id", "invalid_file_purpose")["error"]
    assert client.files.retrieve(f.id).purpose == "user_data"  # it exists; only its purpose is wrong
    assert client.batches.list().data == []


def test_input_file_over_200_mb() -> None:
    validation.check_input_file("file-a", "batch", validation.MAX_INPUT_BYTES)  # exactly the limit is fine
    with pytest.raises(InvalidRequest) as err:
        validation.check_input_file("file-a", "batch", validation.MAX_INPUT_BYTES + 1)
    assert (err.value.message, err.value.param, err.value.code, err.value.status) == ("File is too large.", None,
                                                                                       None, 400)
    with pytest.raises(InvalidRequest) as err:  # with the model of its first line, as the real API words it
        validation.check_input_file("file-a", "batch", validation.MAX_INPUT_BYTES + 1, "gpt-4o")
    assert err.value.message == ("The batch input file is larger than the 209715200 maximum for the gpt-4o model. "
                                 "Please try again with a smaller batch.")
    line = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o"}}\n{"'
    assert validation.first_model(b"\xef\xbb\xbf\n" + line) == "gpt-4o"
    assert validation.first_model(b"not json\n") is None and validation.first_model(b"[1]\n") is None
    # End to end with a 300 MB file: tests/test_uploads.py.


def test_missing_input_file_creates_a_batch_that_fails(server: MockBatchServer, client: openai.OpenAI) -> None:
    b = client.batches.create(input_file_id="file-gone", endpoint="/v1/embeddings", completion_window="24h")
    assert b.status == "validating" and b.input_file_id == "file-gone"
    server.advance(1)
    b = client.batches.retrieve(b.id)
    assert b.status == "failed" and b.errors is not None
    assert [e.model_dump() for e in b.errors.data] == [{
        "code": "invalid_request", "param": "file_id", "line": None,
        "message": "Cannot find file file-gone, or organization org-mockbatch does not have access to it."}]


@pytest.mark.parametrize(("seconds", "ttl_expected"), [(7200, 7200), (None, 2_592_000)])
def test_output_expires_after_sets_both_files_expiry(server: MockBatchServer, client: openai.OpenAI,
                                                     seconds: int | None, ttl_expected: int) -> None:
    extra = {} if seconds is None else {"output_expires_after": {"anchor": "created_at", "seconds": seconds}}
    f = upload(client, [chat_line(i) for i in range(10)])
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                                  **extra)  # type: ignore[arg-type]
    server.advance(3)  # in_progress at +1, four lines done by +3
    client.batches.cancel(batch.id)
    server.advance(5)
    b = client.batches.retrieve(batch.id)
    assert b.status == "cancelled" and b.output_file_id and b.error_file_id
    assert len(read_jsonl(client, b.output_file_id)) == 4 and len(read_jsonl(client, b.error_file_id)) == 6
    for file_id in (b.output_file_id, b.error_file_id):
        out = client.files.retrieve(file_id)
        assert out.purpose == "batch_output" and out.expires_at == out.created_at + ttl_expected


# -- uploads: POST /v1/files ------------------------------------------------------------------------------
@pytest.mark.parametrize("filename", ["data.csv", "data.json", "data.jsonl.txt", "jsonl"])
def test_batch_upload_needs_a_jsonl_file(shared: MockBatchServer, filename: str) -> None:
    client = openai.OpenAI(base_url=shared.base_url, api_key=f"sk-{filename}", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=(filename, jsonl([chat_line(0)])), purpose="batch")
    assert err.value.body == envelope("Invalid file format for Batch API. Must be .jsonl")["error"]
    assert client.files.list().data == []


def test_other_purposes_take_any_file_name(client: openai.OpenAI) -> None:
    f = client.files.create(file=("data.csv", b"a,b\n"), purpose="user_data")
    assert (f.filename, f.purpose, f.bytes, f.expires_at) == ("data.csv", "user_data", 4, None)


@pytest.mark.parametrize("purpose", ["vector_store", "batch_output", "BATCH"])
def test_invalid_purpose_lists_the_valid_ones(shared: MockBatchServer, purpose: str) -> None:
    client = openai.OpenAI(base_url=shared.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=("a.jsonl", b"{}\n"), purpose=purpose)  # type: ignore[arg-type]
    assert err.value.body == envelope(
        f"'{purpose}' is not one of ['fine-tune', 'assistants', 'batch', 'user_data', 'vision', 'evals'] - 'purpose'",
        "purpose")["error"]


@pytest.mark.parametrize("form", [{}, {"purpose": ""}])
def test_missing_purpose(shared: MockBatchServer, form: dict[str, str]) -> None:
    r = httpx.post(f"{shared.base_url}/files", data=form, files={"file": ("a.jsonl", b"{}\n")}, headers=AUTH)
    assert r.status_code == 400
    assert r.json() == envelope("Missing required parameter: 'purpose'.", "purpose", "missing_required_parameter")


def test_upload_over_512_mb_is_refused_by_its_content_length(server: MockBatchServer) -> None:
    """Only the headers and a first slice of the body are sent: the answer comes before the rest would."""
    declared = 512 * 1024 * 1024 + 2 * 1024 * 1024
    head = (f"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-test\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n\r\n").encode()
    first = b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--b\r\n' \
            b'Content-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n' + b"x" * 65536
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + first)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status = answer.split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == envelope(
        "File is too large. The maximum size is 536870912 bytes.", "file")


def _length(answer: bytes) -> int:
    for header in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


async def test_engine_refuses_a_file_growing_past_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The streaming check (a body without Content-Length): the same limit, made small; nothing is left behind."""
    monkeypatch.setattr(files_module, "MAX_FILE_BYTES", 1000)

    async def pieces(n: int) -> AsyncIterator[bytes]:
        for _ in range(n):
            yield b"x" * 250

    async with Store.open(str(tmp_path / "db.sqlite3")) as store:
        files = Files(store, Clock("manual", start=START), 0, Runner(0))
        f = await files.create("t", "ok.txt", "user_data", pieces(4))  # exactly the limit
        assert f["bytes"] == 1000
        with pytest.raises(PayloadTooLarge) as err:
            await files.create("t", "big.txt", "user_data", pieces(5))
        assert (err.value.status, err.value.message, err.value.param) == (
            413, "File is too large. The maximum size is 1000 bytes.", "file")
        async with store.transaction() as tx:
            assert await tx.sweep_blobs(set()) == 0  # the refused file's blob is gone already
            assert [r.id for r in await tx.list_files("t", None, None, 10, True)] == [f["id"]]
