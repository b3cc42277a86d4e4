"""Malformed and hostile requests: each gets a 4xx in the OpenAI envelope (or the real API's acceptance),
never a 500; the server stays up and what was stored before is untouched."""

from __future__ import annotations

import json
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mockbatch.server import MockBatchServer
from tests.conftest import START
from tests.helpers import strict_json

LINE = json.dumps({"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}})
BATCH = {"input_file_id": "file-abc", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
DEEP = "[" * 10_000 + "]" * 10_000
BAD_JSON = "We could not parse the JSON body of your request."


def upload(content: bytes, name: str = "in.jsonl", **fields: str) -> dict[str, Any]:
    return {"files": {"file": (name, content)}, "data": {"purpose": "batch", **fields}}


def form(**fields: Any) -> dict[str, Any]:
    return {"files": {"file": ("in.jsonl", LINE.encode() + b"\n")}, "data": fields}


def raw(body: bytes | str, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body.encode() if isinstance(body, str) else body, "headers": {"content-type": content_type}}


def batch(**changes: Any) -> dict[str, Any]:
    return {"json": {**BATCH, **changes}}


@dataclass
class Case:
    name: str
    method: str
    path: str
    request: dict[str, Any] = field(default_factory=dict)
    status: int = 400
    code: str | None = None
    param: str | None = None
    message: str | None = None  # a part of the expected message


CASES = [
    # -- authentication and routing
    Case("no authorization", "GET", "/v1/files", {"headers": {"authorization": ""}}, 401,
         message="Missing bearer or basic authentication in header"),
    Case("not a bearer token", "GET", "/v1/files", {"headers": {"authorization": "Basic abc"}}, 401),
    Case("unknown route", "GET", "/v1/nothing", status=404, message="Invalid URL (GET /v1/nothing)"),
    Case("wrong method on files", "PUT", "/v1/files", status=404, message="Invalid URL (PUT /v1/files)"),
    Case("wrong method on a batch", "DELETE", "/v1/batches/batch_x", status=404, message="Invalid URL"),
    # -- uploads
    Case("multipart without file", "POST", "/v1/files", {"files": {"purpose": (None, "batch")}},
         code="missing_required_parameter", param="file"),
    Case("multipart without purpose", "POST", "/v1/files", form(), code="missing_required_parameter",
         param="purpose"),
    Case("empty purpose", "POST", "/v1/files", form(purpose=""), param="purpose"),
    Case("unknown purpose", "POST", "/v1/files", form(purpose="vector_store"), param="purpose",
         message="'vector_store' is not one of"),
    Case("batch file not .jsonl", "POST", "/v1/files", upload(LINE.encode(), name="in.txt"),
         message="Invalid file format for Batch API. Must be .jsonl"),
    Case("JSON body instead of multipart", "POST", "/v1/files", {"json": {"purpose": "batch"}}),
    Case("urlencoded form", "POST", "/v1/files", {"data": {"purpose": "batch"}}),
    Case("multipart without boundary", "POST", "/v1/files", raw("abc", "multipart/form-data")),
    Case("garbled multipart", "POST", "/v1/files", raw("--xx\r\ngarbage", "multipart/form-data; boundary=xx"),
         param="file"),
    Case("two files", "POST", "/v1/files",
         {"files": [("file", ("a.jsonl", b"{}\n")), ("file", ("b.jsonl", b"{}\n"))], "data": {"purpose": "batch"}}),
    Case("fifty extra fields", "POST", "/v1/files", form(purpose="batch", **{f"f{i}": "x" for i in range(50)})),
    Case("a 5 MB purpose field", "POST", "/v1/files", form(purpose="x" * 5_000_000)),
    Case("non-UTF-8 JSONL", "POST", "/v1/files", upload(b"\xff\xfe\xfa" + LINE.encode() + b"\n"),
         message="Invalid file format for Batch API"),
    Case("JSON nested 10,000 levels", "POST", "/v1/files", upload(DEEP.encode() + b"\n"),
         message="Invalid file format for Batch API"),
    Case("NaN in the first line", "POST", "/v1/files", upload(LINE.replace('"hi"', "NaN").encode() + b"\n"),
         message="Invalid file format for Batch API"),
    Case("Infinity in the first line", "POST", "/v1/files", upload(b'{"a": Infinity}\n'),
         message="Invalid file format for Batch API"),
    Case("a UTF-8 BOM", "POST", "/v1/files", upload(b"\xef\xbb\xbf" + LINE.encode() + b"\n"), 200),
    Case("CRLF and trailing blank lines", "POST", "/v1/files", upload(LINE.encode() + b"\r\n\r\n\r\n"), 200),
    Case("a 20 MB single line", "POST", "/v1/files", upload(LINE.replace("hi", "x" * 20_000_000).encode()), 200),
    Case("NUL characters in strings", "POST", "/v1/files", upload(LINE.replace("r1", "r\\u0000 1").encode()), 200),
    Case("a non-ASCII file name", "POST", "/v1/files", upload(LINE.encode(), name="données ✓.jsonl"), 200),
    Case("expires_after with a bogus anchor", "POST", "/v1/files",
         upload(LINE.encode(), **{"expires_after[anchor]": "bogus", "expires_after[seconds]": "3600"}),
         param="expires_after.anchor"),
    Case("expires_after seconds not a number", "POST", "/v1/files",
         upload(LINE.encode(), **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "abc"}),
         param="expires_after.seconds"),
    Case("expires_after seconds too small", "POST", "/v1/files",
         upload(LINE.encode(), **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "10"}),
         param="expires_after.seconds"),
    # -- creating batches
    Case("body not JSON", "POST", "/v1/batches", raw("{not json"), message=BAD_JSON),
    Case("body a JSON array", "POST", "/v1/batches", raw("[1, 2]"), message=BAD_JSON),
    Case("body nested 100,000 levels", "POST", "/v1/batches", raw("[" * 100_000 + "]" * 100_000),
         message=BAD_JSON),
    Case("body over 1 MB", "POST", "/v1/batches", batch(input_file_id="x" * 2_000_000), 413),
    Case("text/plain garbage", "POST", "/v1/batches", raw("hello", "text/plain"), message=BAD_JSON),
    Case("multipart instead of JSON", "POST", "/v1/batches", {"files": {"a": ("a", b"x")}}, message=BAD_JSON),
    Case("missing input_file_id", "POST", "/v1/batches", {"json": {"endpoint": "/v1/chat/completions",
                                                                     "completion_window": "24h"}},
         code="missing_required_parameter", param="input_file_id"),
    Case("input_file_id a number", "POST", "/v1/batches", batch(input_file_id=7), code="invalid_type",
         param="input_file_id"),
    Case("unknown endpoint", "POST", "/v1/batches", batch(endpoint="/v1/invalid"), code="invalid_value",
         param="endpoint"),
    Case("48h window", "POST", "/v1/batches", batch(completion_window="48h"), code="invalid_value",
         param="completion_window"),
    Case("17 metadata keys", "POST", "/v1/batches", batch(metadata={f"k{i}": "v" for i in range(17)}),
         code="object_above_max_properties", param="metadata"),
    Case("metadata key of 65 characters", "POST", "/v1/batches", batch(metadata={"k" * 65: "v"}),
         code="property_name_above_max_length"),
    Case("metadata value of 513 characters", "POST", "/v1/batches", batch(metadata={"k": "v" * 513}),
         code="string_above_max_length", param="metadata.k"),
    Case("metadata value not a string", "POST", "/v1/batches", batch(metadata={"k": 1}), code="invalid_type",
         param="metadata.k"),
    Case("metadata value NaN", "POST", "/v1/batches",
         raw(json.dumps(BATCH)[:-1] + ', "metadata": {"k": NaN}}'), code="invalid_type", param="metadata.k"),
    Case("input_file_id with a lone surrogate", "POST", "/v1/batches", raw(json.dumps({**BATCH, "input_file_id":
         "file-\udc80"})), code="invalid_value", param="input_file_id", message="unpaired UTF-16 surrogate"),
    Case("endpoint with a lone surrogate", "POST", "/v1/batches", raw(json.dumps({**BATCH, "endpoint":
         "/v1/chat/completions\ud83d"})), param="endpoint"),
    Case("upload filename with a lone surrogate", "POST", "/v1/uploads", raw(json.dumps({
         "filename": "a\udc80.jsonl", "purpose": "batch", "bytes": 1, "mime_type": "text/jsonl"})),
         code="invalid_value", param="filename"),
    Case("metadata not an object", "POST", "/v1/batches", batch(metadata=["a"]), code="invalid_type",
         param="metadata"),
    Case("output_expires_after too short", "POST", "/v1/batches",
         batch(output_expires_after={"anchor": "created_at", "seconds": 10}), code="integer_below_min_value"),
    Case("output_expires_after not an object", "POST", "/v1/batches", batch(output_expires_after="soon"),
         code="invalid_type"),
    # -- lists, limits and cursors
    Case("negative limit", "GET", "/v1/files?limit=-1", code="integer_below_min_value", param="limit"),
    Case("zero limit", "GET", "/v1/files?limit=0", code="integer_below_min_value", param="limit"),
    Case("limit over the maximum", "GET", "/v1/files?limit=10001", code="integer_above_max_value"),
    Case("huge limit", "GET", "/v1/files?limit=99999999999999999999999", code="integer_above_max_value"),
    Case("limit not a number", "GET", "/v1/files?limit=abc", code="invalid_type", param="limit"),
    Case("SQL in limit", "GET", "/v1/files?limit=1;DROP TABLE files", code="invalid_type", param="limit"),
    Case("SQL in after", "GET", "/v1/files?after=' OR 1=1 --", status=200),
    Case("SQL in after, quoted", "GET", '/v1/files?after=file-x"; DROP TABLE files; --', status=200),
    Case("SQL in purpose", "GET", "/v1/files?purpose=' OR '1'='1", status=200),
    Case("unknown order", "GET", "/v1/files?order=sideways", code="invalid_value", param="order"),
    Case("batches limit zero", "GET", "/v1/batches?limit=0", code="integer_below_min_value"),
    Case("batches limit over 100", "GET", "/v1/batches?limit=101", code="integer_above_max_value"),
    Case("SQL in batches after", "GET", "/v1/batches?after=1' OR '1'='1", status=200),
    # -- ids
    Case("path-traversing file id", "GET", "/v1/files/..%2F..%2Fetc%2Fpasswd", status=404),
    Case("dot-dot file id", "GET", "/v1/files/%2e%2e/content", status=404),
    Case("SQL as a file id", "GET", "/v1/files/' OR 1=1 --", status=404, param="id"),
    Case("20,000-character file id", "GET", "/v1/files/" + "a" * 20_000, status=404, param="id"),
    Case("path-traversing batch id", "GET", "/v1/batches/..%2F..%2Fx", status=404),
    Case("cancel an unknown batch", "POST", "/v1/batches/batch_nope/cancel", status=404),
    Case("delete an unknown file", "DELETE", "/v1/files/file-nope", status=404, param="id"),
    Case("content of an unknown file", "GET", "/v1/files/file-nope/content", status=404, param="id"),
    # -- control plane
    Case("advance by NaN", "POST", "/_mockbatch/clock/advance", raw('{"seconds": NaN}'), param="seconds"),
    Case("advance backwards", "POST", "/_mockbatch/clock/advance", {"json": {"seconds": -5}}, param="seconds"),
    Case("advance by a string", "POST", "/_mockbatch/clock/advance", {"json": {"seconds": "abc"}}, param="seconds"),
    Case("advance past the year 9999", "POST", "/_mockbatch/clock/advance", {"json": {"seconds": 1e300}},
         param="seconds", message="past the year 9999"),
    Case("advance by an integer too big for a float", "POST", "/_mockbatch/clock/advance",
         raw('{"seconds": 1' + "0" * 400 + "}"), param="seconds"),
]


def check(case: Case, response: httpx.Response) -> str | None:
    """What is wrong with the answer to `case`, or None."""
    if response.status_code != case.status:
        return f"status {response.status_code}, expected {case.status}: {response.text[:200]}"
    if case.status < 400:
        return None
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(error) != {"message", "type", "param", "code"}:
        return f"not the OpenAI error envelope: {response.text[:200]}"
    if not isinstance(error["message"], str) or not error["message"]:
        return "empty message"
    if case.code is not None and error["code"] != case.code:
        return f"code {error['code']!r}, expected {case.code!r}"
    if case.param is not None and error["param"] != case.param:
        return f"param {error['param']!r}, expected {case.param!r}"
    if case.message is not None and case.message not in error["message"]:
        return f"message {error['message']!r} lacks {case.message!r}"
    return None


def oversized_claim(server: MockBatchServer) -> httpx.Response:
    """An upload whose Content-Length claims more than the file limit: refused before its body is read."""
    request = (b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-hostile\r\nConnection: close\r\n"
               b"Content-Type: multipart/form-data; boundary=b0\r\nContent-Length: " + str(600 << 20).encode() +
               b"\r\n\r\n--b0\r\n")
    assert server.port is not None
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < int(
                answer.lower().partition(b"content-length: ")[2].split(b"\r\n")[0] or 0):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return httpx.Response(int(head.split()[1]), content=body)


def disconnect_mid_upload(server: MockBatchServer) -> None:
    """Send the head of a 10 MB multipart upload and 1 MB of it, then hang up."""
    head = (b"--b0\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            b"--b0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.jsonl\"\r\n\r\n")
    request = (f"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-hostile\r\n"
               f"Content-Type: multipart/form-data; boundary=b0\r\nContent-Length: {10 << 20}\r\n\r\n").encode()
    assert server.port is not None
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request + head + (LINE.encode() + b"\n") * (1 << 20 // len(LINE)))


def test_hostile_requests_get_4xx_and_leave_state_intact(tmp_path: Path) -> None:
    assert len(CASES) >= 50
    with MockBatchServer(db=str(tmp_path / "db.sqlite3"), clock="manual", seed=7, start_time=START) as server:
        client = httpx.Client(base_url=server.url, headers={"authorization": "Bearer sk-hostile"}, timeout=60)
        # What is stored before: a file, a finished batch and its output.
        content = (LINE + "\n" + LINE.replace("r1", "r2") + "\n").encode()
        before = client.post("/v1/files", **upload(content)).json()
        created = client.post("/v1/batches", json={**BATCH, "input_file_id": before["id"]}).json()
        server.advance(3600)
        done = client.get(f"/v1/batches/{created['id']}").json()
        assert done["status"] == "completed"
        output = client.get(f"/v1/files/{done['output_file_id']}/content").content

        problems = []
        for case in CASES:
            response = client.request(case.method, case.path, **case.request)
            if (problem := check(case, response)) is not None:
                problems.append(f"{case.name}: {problem}")
        claim = Case("content-length over the file limit", "POST", "/v1/files", status=413, param="file")
        if (problem := check(claim, oversized_claim(server))) is not None:
            problems.append(f"{claim.name}: {problem}")
        disconnect_mid_upload(server)
        assert not problems, "\n".join(problems)

        # Accepted oddities behave as the real API does: BOM, CRLF and blank lines make a batch like any other.
        for oddity in (b"\xef\xbb\xbf" + content, content.replace(b"\n", b"\r\n") + b"\r\n\r\n"):
            f = client.post("/v1/files", **upload(oddity)).json()
            b = client.post("/v1/batches", json={**BATCH, "input_file_id": f["id"]}).json()
            server.advance(3600)
            b = client.get(f"/v1/batches/{b['id']}").json()
            assert b["status"] == "completed" and b["request_counts"] == {"total": 2, "completed": 2, "failed": 0}
        # Hostile lines (lone surrogates, numbers past the float range, deep nesting in a body) make a batch
        # whose output and error files are strict JSON, line by line.
        hostile = [{"custom_id": "x\udc80", "body": {"messages": [{"role": "user", "content": "hi \ud83d"}]}},
                   {"custom_id": "inf", "body": {"temperature": "__INF__"}},
                   {"custom_id": "deep", "body": {"metadata": {"k": json.loads("[" * 500 + "]" * 500)}}},
                   {"custom_id": "big", "body": {"seed": 10**40, "user": "\udfff" * 3}}]
        text = "\n".join(json.dumps({**json.loads(LINE), **h, "body": {**json.loads(LINE)["body"], **h["body"]}})
                         for h in hostile).replace('"__INF__"', "1e999").encode()
        f = client.post("/v1/files", **upload(text)).json()
        b = client.post("/v1/batches", json={**BATCH, "input_file_id": f["id"]}).json()
        server.advance(3600)
        b = client.get(f"/v1/batches/{b['id']}").json()
        assert b["status"] == "completed" and b["request_counts"]["total"] == 4, b
        # Per-line 400s: the number past the float range, a metadata value that is not a string, a seed past
        # the 64-bit range; the lone surrogates are answered.
        assert b["request_counts"]["failed"] == 3
        refused = client.get(f"/v1/files/{b['error_file_id']}/content").content.splitlines()
        assert sorted(strict_json(line)["custom_id"] for line in refused) == ["big", "deep", "inf"]
        for file_id in (b["output_file_id"], b["error_file_id"]):
            for line in client.get(f"/v1/files/{file_id}/content").content.splitlines():
                strict_json(line)
        assert client.get("/v1/batches").status_code == 200

        # A non-ASCII name survives the download's content-disposition header.
        named = [f for f in client.get("/v1/files").json()["data"] if f["filename"] == "données ✓.jsonl"]
        got = client.get(f"/v1/files/{named[0]['id']}/content")
        assert got.status_code == 200 and "filename*=UTF-8''donn%C3%A9es%20%E2%9C%93.jsonl" in got.headers[
            "content-disposition"]

        # The server is up, and what was stored before is as it was.
        assert client.get("/_mockbatch/health").json()["status"] == "ok"
        assert client.get(f"/v1/files/{before['id']}").json() == before
        assert client.get(f"/v1/files/{before['id']}/content").content == content
        assert client.get(f"/v1/batches/{created['id']}").json() == done
        assert client.get(f"/v1/files/{done['output_file_id']}/content").content == output
        names = {f["filename"] for f in client.get("/v1/files?limit=10000").json()["data"]}
        assert "cut.jsonl" not in names  # the cut upload left no file behind
        client.close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
