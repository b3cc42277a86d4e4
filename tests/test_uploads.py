"""The Uploads API through the SDK: parts, completion (order, byte count, md5), cancel, expiry, and a
300 MB file sent with `upload_file_chunked` while the server's memory is watched."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types import Upload

from mockbatch.server import MockBatchServer
from tests.conftest import START
from tests.helpers import chat_line, jsonl, read_jsonl

MB = 1 << 20
AUTH = {"authorization": "Bearer sk-test"}


def envelope(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}


def new_upload(client: openai.OpenAI, size: int, filename: str = "input.jsonl", **kw: Any) -> Upload:
    return client.uploads.create(bytes=size, filename=filename, mime_type="text/jsonl", purpose="batch", **kw)


def refused(call: Callable[[], Any], status: type[openai.APIStatusError] = openai.BadRequestError) -> dict[str, Any]:
    with pytest.raises(status) as err:
        call()
    assert isinstance(err.value.body, dict)
    return err.value.body


def big_lines(n: int, width: int = 40_000) -> bytes:
    """Chat lines long enough that a few of them span several storage chunks."""
    return jsonl([chat_line(i, messages=[{"role": "user", "content": f"{i} " + "x" * width}]) for i in range(n)])


# -- the happy paths --------------------------------------------------------------------------------------
def test_parts_in_any_order_become_a_file_that_runs_a_batch(server: MockBatchServer, client: openai.OpenAI) -> None:
    data = big_lines(60)  # about 2.4 MB
    cuts = [0, 1_000_003, 1_000_004, 2 * MB + 77, len(data)]  # parts of 1 MB + 3, 1 byte, ~1 MB, the rest
    up = new_upload(client, len(data))
    assert re.fullmatch(r"upload_[0-9a-f]{32}", up.id)
    assert up.model_dump() == {"id": up.id, "object": "upload", "bytes": len(data), "created_at": START,
                               "filename": "input.jsonl", "purpose": "batch", "status": "pending",
                               "expires_at": START + 3600, "file": None}
    server.advance(10)
    pieces = [data[a:b] for a, b in itertools.pairwise(cuts)]
    parts = {i: client.uploads.parts.create(upload_id=up.id, data=pieces[i]) for i in (3, 1, 0, 2)}  # any order
    for part in parts.values():
        assert re.fullmatch(r"part_[0-9a-f]{32}", part.id)
        assert part.model_dump() == {"id": part.id, "object": "upload.part", "created_at": START + 10,
                                     "upload_id": up.id}
    server.advance(10)
    done = client.uploads.complete(upload_id=up.id, part_ids=[parts[i].id for i in range(4)],
                                   md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed" and done.id == up.id and done.expires_at == START + 3600
    assert done.file is not None
    assert done.file.model_dump() == {"id": done.file.id, "object": "file", "bytes": len(data),
                                      "created_at": START + 20, "expires_at": START + 20 + 2_592_000,
                                      "filename": "input.jsonl", "purpose": "batch", "status": "processed",
                                      "status_details": None}
    assert client.files.content(done.file.id).content == data
    assert client.files.retrieve(done.file.id).bytes == len(data)
    batch = client.batches.create(input_file_id=done.file.id, endpoint="/v1/chat/completions", completion_window="24h")
    server.advance(100)
    b = client.batches.retrieve(batch.id)
    assert b.status == "completed" and b.request_counts is not None and b.request_counts.completed == 60
    assert sorted(line["custom_id"] for line in read_jsonl(client, b.output_file_id)) == \
        sorted(f"request-{i}" for i in range(60))


def test_sdk_chunked_helper_and_left_out_parts(server: MockBatchServer, client: openai.OpenAI, tmp_path: Path) -> None:
    data = jsonl([chat_line(i) for i in range(500)])
    path = tmp_path / "requests.jsonl"
    path.write_bytes(data)
    done = client.uploads.upload_file_chunked(file=path, mime_type="application/jsonl", purpose="batch",
                                              part_size=10_000)
    assert done.status == "completed" and done.file is not None and done.filename == "requests.jsonl"
    assert client.files.content(done.file.id).content == data
    # A part uploaded but not listed is not part of the file.
    up = new_upload(client, 3)
    keep = client.uploads.parts.create(upload_id=up.id, data=b"abc")
    client.uploads.parts.create(upload_id=up.id, data=b"left out")
    done = client.uploads.complete(upload_id=up.id, part_ids=[keep.id])
    assert done.file is not None and client.files.content(done.file.id).content == b"abc"


def test_an_empty_upload(client: openai.OpenAI) -> None:
    up = new_upload(client, 0, filename="empty.jsonl")
    done = client.uploads.complete(upload_id=up.id, part_ids=[], md5=hashlib.md5(b"").hexdigest())
    assert done.file is not None and done.file.bytes == 0
    assert client.files.content(done.file.id).content == b""


def test_expires_after_applies_to_the_file(server: MockBatchServer, client: openai.OpenAI) -> None:
    up = client.uploads.create(bytes=2, filename="notes.txt", mime_type="text/plain", purpose="user_data",
                               expires_after={"anchor": "created_at", "seconds": 7200})
    part = client.uploads.parts.create(upload_id=up.id, data=b"hi")
    server.advance(60)
    done = client.uploads.complete(upload_id=up.id, part_ids=[part.id])
    assert done.file is not None and done.file.expires_at == START + 60 + 7200
    plain = client.uploads.create(bytes=2, filename="notes.txt", mime_type="text/plain", purpose="user_data")
    part = client.uploads.parts.create(upload_id=plain.id, data=b"hi")
    done = client.uploads.complete(upload_id=plain.id, part_ids=[part.id])
    assert done.file is not None and done.file.expires_at is None  # only batch files expire by default


# -- completion checks ------------------------------------------------------------------------------------
def test_completion_checks_bytes_parts_and_md5(client: openai.OpenAI) -> None:
    up = new_upload(client, 6)
    a = client.uploads.parts.create(upload_id=up.id, data=b"abc")
    b = client.uploads.parts.create(upload_id=up.id, data=b"def")
    other = new_upload(client, 3)
    foreign = client.uploads.parts.create(upload_id=other.id, data=b"xyz")
    complete = client.uploads.complete
    assert refused(lambda: complete(upload_id=up.id, part_ids=[a.id])) == envelope(
        f"The Parts of Upload {up.id} hold 3 bytes, but the Upload was created with bytes=6.", "part_ids")
    assert refused(lambda: complete(upload_id=up.id, part_ids=[a.id, a.id])) == envelope(
        f"Part {a.id} is listed more than once.", "part_ids")
    assert refused(lambda: complete(upload_id=up.id, part_ids=[a.id, "part_nope"])) == envelope(
        f"Part part_nope was not found in Upload {up.id}.", "part_ids")
    assert refused(lambda: complete(upload_id=up.id, part_ids=[a.id, foreign.id])) == envelope(
        f"Part {foreign.id} was not found in Upload {up.id}.", "part_ids")
    good = hashlib.md5(b"defabc").hexdigest()
    wrong = hashlib.md5(b"abcdef").hexdigest()
    assert refused(lambda: complete(upload_id=up.id, part_ids=[b.id, a.id], md5=wrong)) == envelope(
        f"The md5 checksum of the uploaded bytes ({good}) does not match the md5 provided ({wrong}).", "md5")
    # Every refusal left the upload pending; the right call completes it, parts in the order given.
    done = complete(upload_id=up.id, part_ids=[b.id, a.id], md5=good.upper())
    assert done.file is not None and client.files.content(done.file.id).content == b"defabc"


def test_bad_request_bodies(server: MockBatchServer, client: openai.OpenAI) -> None:
    up = new_upload(client, 1)
    for body, expected in (
        ({}, envelope("Missing required parameter: 'part_ids'.", "part_ids", "missing_required_parameter")),
        ({"part_ids": "part_a"}, envelope("Invalid type for 'part_ids': expected an array of strings, but got a "
                                          "string instead.", "part_ids", "invalid_type")),
        ({"part_ids": [], "md5": 5}, envelope("Invalid type for 'md5': expected a string, but got an integer instead.",
                                              "md5", "invalid_type")),
    ):
        r = httpx.post(f"{server.base_url}/uploads/{up.id}/complete", json=body, headers=AUTH)
        assert (r.status_code, r.json()) == (400, {"error": expected})
    r = httpx.post(f"{server.base_url}/uploads/{up.id}/parts", files={"other": ("x", b"x")}, headers=AUTH)
    assert (r.status_code, r.json()) == (400, {"error": envelope("Missing required parameter: 'data'.", "data",
                                                                 "missing_required_parameter")})
    r = httpx.post(f"{server.base_url}/uploads/{up.id}/parts", data={"data": "z"}, headers=AUTH)
    assert (r.status_code, r.json()) == (400, {"error": envelope(
        "Expected a multipart/form-data body with the field 'data'.")})
    r = httpx.post(f"{server.base_url}/uploads/{up.id}/parts", files={"data": (None, b"z")}, headers=AUTH)  # no name
    assert r.status_code == 200 and r.json()["object"] == "upload.part"
    done = client.uploads.complete(upload_id=up.id, part_ids=[r.json()["id"]])
    assert done.file is not None and client.files.content(done.file.id).content == b"z"


CREATE_REFUSALS = [
    *[(f"missing-{key}", key, envelope(f"Missing required parameter: '{key}'.", key, "missing_required_parameter"))
      for key in ("bytes", "filename", "mime_type", "purpose")],
    ("bytes-a-string", {"bytes": "10"},
     envelope("Invalid type for 'bytes': expected an integer, but got a string instead.", "bytes", "invalid_type")),
    ("bytes-negative", {"bytes": -1}, envelope("Invalid 'bytes': integer below minimum value. Expected a value >= 0, "
                                               "but got -1 instead.", "bytes", "integer_below_min_value")),
    ("bytes-over-8-gb", {"bytes": 8 * 1024 ** 3 + 1},
     envelope("Invalid 'bytes': integer above maximum value. Expected a value <= 8589934592, but got 8589934593 "
              "instead.", "bytes", "integer_above_max_value")),
    ("purpose-invalid", {"purpose": "vector_store"},
     envelope("'vector_store' is not one of ['fine-tune', 'assistants', 'batch', 'user_data', 'vision', 'evals'] - "
              "'purpose'", "purpose")),
    ("batch-needs-jsonl", {"filename": "input.csv"}, envelope("Invalid file format for Batch API. Must be .jsonl")),
    ("expires-after-too-short", {"expires_after": {"anchor": "created_at", "seconds": 60}},
     envelope("Invalid 'expires_after.seconds': integer below minimum value. Expected a value >= 3600, but got 60 "
              "instead.", "expires_after.seconds", "integer_below_min_value")),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CREATE_REFUSALS], ids=[c[0] for c in CREATE_REFUSALS])
def test_create_refusals(server: MockBatchServer, change: str | dict[str, Any], expected: dict[str, Any]) -> None:
    body: dict[str, Any] = {"bytes": 10, "filename": "input.jsonl", "mime_type": "text/jsonl", "purpose": "batch"}
    if isinstance(change, str):
        body.pop(change)
    else:
        body.update(change)
    r = httpx.post(f"{server.base_url}/uploads", json=body, headers=AUTH)
    assert (r.status_code, r.json()) == (400, {"error": expected})


# -- states: cancelled, completed, expired, unknown ---------------------------------------------------------
def test_cancel(client: openai.OpenAI) -> None:
    up = new_upload(client, 3)
    part = client.uploads.parts.create(upload_id=up.id, data=b"abc")
    cancelled = client.uploads.cancel(up.id)
    assert cancelled.status == "cancelled" and cancelled.file is None and cancelled.id == up.id
    assert client.uploads.cancel(up.id).status == "cancelled"  # again: the same answer
    assert refused(lambda: client.uploads.parts.create(upload_id=up.id, data=b"d")) == envelope(
        "Cannot add a Part to an Upload with status 'cancelled'.")
    assert refused(lambda: client.uploads.complete(upload_id=up.id, part_ids=[part.id])) == envelope(
        "Cannot complete an Upload with status 'cancelled'.")


def test_completed_upload_is_closed(client: openai.OpenAI) -> None:
    up = new_upload(client, 1)
    part = client.uploads.parts.create(upload_id=up.id, data=b"a")
    client.uploads.complete(upload_id=up.id, part_ids=[part.id])
    assert refused(lambda: client.uploads.parts.create(upload_id=up.id, data=b"b")) == envelope(
        "Cannot add a Part to an Upload with status 'completed'.")
    assert refused(lambda: client.uploads.cancel(up.id)) == envelope(
        "Cannot cancel an Upload with status 'completed'.")
    assert refused(lambda: client.uploads.complete(upload_id=up.id, part_ids=[part.id])) == envelope(
        "Cannot complete an Upload with status 'completed'.")


def test_expiry_after_an_hour_of_virtual_time(server: MockBatchServer, client: openai.OpenAI) -> None:
    up = new_upload(client, 2)
    server.advance(3599)
    part = client.uploads.parts.create(upload_id=up.id, data=b"a")  # still open at 59:59
    server.advance(1)
    assert refused(lambda: client.uploads.parts.create(upload_id=up.id, data=b"b")) == envelope(
        "Cannot add a Part to an Upload with status 'expired'.")
    assert refused(lambda: client.uploads.complete(upload_id=up.id, part_ids=[part.id])) == envelope(
        "Cannot complete an Upload with status 'expired'.")
    assert refused(lambda: client.uploads.cancel(up.id)) == envelope("Cannot cancel an Upload with status 'expired'.")


def test_unknown_upload_and_other_tenants(server: MockBatchServer, client: openai.OpenAI) -> None:
    up = new_upload(client, 1)
    other = openai.OpenAI(base_url=server.base_url, api_key="sk-other", max_retries=0)
    for c, upload_id in ((client, "upload_nope"), (other, up.id)):
        expected = envelope(f"No such Upload object: {upload_id}", "upload_id")
        assert refused(lambda c=c, u=upload_id: c.uploads.parts.create(upload_id=u, data=b"a"),
                       openai.NotFoundError) == expected
        assert refused(lambda c=c, u=upload_id: c.uploads.complete(upload_id=u, part_ids=[]),
                       openai.NotFoundError) == expected
        assert refused(lambda c=c, u=upload_id: c.uploads.cancel(u), openai.NotFoundError) == expected


def test_part_over_64_mb_is_refused_by_its_content_length(server: MockBatchServer, client: openai.OpenAI) -> None:
    up = new_upload(client, 1)
    declared = 64 * MB + 2 * MB
    head = (f"POST /v1/uploads/{up.id}/parts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-test\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + b'--b\r\nContent-Disposition: form-data; name="data"; filename="d"\r\n\r\n' + b"x" * 9999)
        answer = b""
        while not answer.endswith(b"}}") and (data := sock.recv(65536)):  # the body is one JSON object
            answer += data
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"error": envelope(
        "Part is too large. The maximum size of a Part is 67108864 bytes.", "data")}


# -- lasting state ----------------------------------------------------------------------------------------
def test_parts_survive_a_restart_and_reset_forgets_uploads(server_factory: Callable[..., MockBatchServer],
                                                         tmp_path: Path) -> None:
    db = str(tmp_path / "state.sqlite3")
    first = server_factory(db=db)
    client = openai.OpenAI(base_url=first.base_url, api_key="sk-test", max_retries=0)
    up = new_upload(client, 4)
    part = client.uploads.parts.create(upload_id=up.id, data=b"abcd")
    first.stop()
    second = server_factory(db=db)
    client = openai.OpenAI(base_url=second.base_url, api_key="sk-test", max_retries=0)
    done = client.uploads.complete(upload_id=up.id, part_ids=[part.id])  # the start-up sweep kept the part
    assert done.file is not None and client.files.content(done.file.id).content == b"abcd"
    pending = new_upload(client, 1)
    second.reset()
    assert refused(lambda: client.uploads.cancel(pending.id), openai.NotFoundError) == envelope(
        f"No such Upload object: {pending.id}", "upload_id")


# -- 300 MB ----------------------------------------------------------------------------------------------
CLIENT = """
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
up = client.uploads.upload_file_chunked(file=__import__("pathlib").Path(sys.argv[2]), mime_type="text/jsonl",
                                        purpose="batch", md5=sys.argv[3])
print(up.model_dump_json())
"""


def rss() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def test_300_mb_through_upload_file_chunked(server: MockBatchServer, client: openai.OpenAI, tmp_path: Path) -> None:
    """The SDK runs in a child process, so this process's memory is the server's: parts spool to disk and go to
    SQLite a chunk at a time; completing renumbers chunk rows; the md5 is streamed."""
    path = tmp_path / "big.jsonl"
    template = jsonl([chat_line(0, messages=[{"role": "user", "content": "x" * 100}])]).replace(b"request-0", b"B")
    block = b"".join(template.replace(b'"B"', b'"request-%%04d-%05d"' % i) for i in range(MB // (len(template) + 20)))
    block += b" " * (MB - len(block))  # pad each block to exactly 1 MB (leading blanks of the next line)
    digest = hashlib.md5()
    with path.open("wb") as f:
        for n in range(300):
            data = block.replace(b"%04d", b"%04d" % n)
            f.write(data)
            digest.update(data)
    size = path.stat().st_size
    assert size == 300 * MB

    peak = [rss()]
    base = peak[0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        child = subprocess.run([sys.executable, "-c", CLIENT, server.base_url, str(path), digest.hexdigest()],
                               capture_output=True, text=True, timeout=120)
    finally:
        done.set()
        watcher.join()
    growth = peak[0] - base
    print(f"server RSS growth during a 300 MB chunked upload: {growth / MB:.1f} MB")
    assert child.returncode == 0, child.stderr
    up = Upload.model_validate_json(child.stdout)
    assert up.status == "completed" and up.bytes == size and up.file is not None and up.file.bytes == size
    assert growth < 100 * MB, f"the server grew by {growth / MB:.0f} MB while taking a 300 MB upload"

    # The file reads back byte for byte.
    back = hashlib.md5()
    with httpx.stream("GET", f"{server.base_url}/files/{up.file.id}/content", headers=AUTH) as r:
        for data in r.iter_bytes(MB):
            back.update(data)
    assert back.hexdigest() == digest.hexdigest()

    # Over the Batch API's 200 MB: the create call refuses it (the file itself stays).
    with pytest.raises(openai.BadRequestError) as err:
        client.batches.create(input_file_id=up.file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert err.value.body == envelope("The batch input file is larger than the 209715200 maximum for the "
                                      "gpt-4o-mini model. Please try again with a smaller batch.")
    assert client.batches.list().data == []
