"""The Files API through a real server and the official SDK."""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from openai.types import FileObject

from tests.conftest import START
from tests.helpers import assert_every_field, chat_line, jsonl, upload

FILE_ID = re.compile(r"^file-[0-9A-Za-z]{22}$")


def test_upload_returns_a_complete_file_object(server, client: openai.OpenAI) -> None:
    content = jsonl([chat_line(i) for i in range(3)])
    f = client.files.create(file=("requests.jsonl", content), purpose="batch")
    assert FILE_ID.match(f.id)
    assert_every_field(f, FileObject)
    raw = httpx.get(f"{server.base_url}/files/{f.id}", headers={"authorization": "Bearer sk-test"}).json()
    assert raw == {"id": f.id, "object": "file", "bytes": len(content), "created_at": START,
                   "expires_at": START + 2_592_000, "filename": "requests.jsonl", "purpose": "batch",
                   "status": "processed", "status_details": None}
    assert client.files.retrieve(f.id) == f


def test_expires_after_is_read_from_bracketed_form_fields(client: openai.OpenAI) -> None:
    f = client.files.create(file=("a.jsonl", b"{}\n"), purpose="batch",
                            expires_after={"anchor": "created_at", "seconds": 7200})
    assert f.expires_at == START + 7200
    other = client.files.create(file=("notes.txt", b"hello"), purpose="user_data")
    assert other.expires_at is None


def test_expires_after_is_read_from_a_json_part_too(server) -> None:
    """Some clients send `expires_after` as one JSON form part rather than the SDK's bracket fields."""
    auth = {"Authorization": "Bearer sk-test"}
    ok = httpx.post(f"{server.base_url}/files", headers=auth, files={"file": ("in.jsonl", jsonl([chat_line(0)]))},
                    data={"purpose": "batch", "expires_after": '{"anchor": "created_at", "seconds": 5400}'})
    assert ok.status_code == 200 and ok.json()["expires_at"] == ok.json()["created_at"] + 5400
    bad = httpx.post(f"{server.base_url}/files", headers=auth, files={"file": ("in.jsonl", jsonl([chat_line(0)]))},
                     data={"purpose": "batch", "expires_after": "soon"})
    assert bad.status_code == 400 and bad.json()["error"] == {
        "message": "Invalid type for 'expires_after': expected an object, but got a string instead.",
        "type": "invalid_request_error", "param": "expires_after", "code": "invalid_type"}
    short = httpx.post(f"{server.base_url}/files", headers=auth, files={"file": ("in.jsonl", jsonl([chat_line(0)]))},
                       data={"purpose": "batch", "expires_after": '{"anchor": "created_at", "seconds": 60}'})
    assert short.status_code == 400 and short.json()["error"]["param"] == "expires_after.seconds"


def test_content_streams_the_exact_bytes(server, client: openai.OpenAI) -> None:
    content = bytes(range(256)) * 9000  # 2.3 MB: several storage chunks, not valid UTF-8
    f = client.files.create(file=("blob.bin", content), purpose="user_data")
    r = client.files.with_raw_response.content(f.id)
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == 'attachment; filename="blob.bin"'
    assert r.headers["content-length"] == str(len(content))
    assert r.content == content
    assert client.files.content(f.id).content == content


def test_list_with_purpose_order_and_cursor(server, client: openai.OpenAI) -> None:
    batch_files = [upload(client, [chat_line(i)], name=f"f{i}.jsonl").id for i in range(4)]
    client.files.create(file=("x.txt", b"x"), purpose="user_data")
    listed = client.files.list(purpose="batch")
    assert [f.id for f in listed.data] == batch_files[::-1] and listed.has_more is False
    asc = client.files.list(purpose="batch", order="asc", limit=3)
    assert [f.id for f in asc.data] == batch_files[:3] and asc.has_more is True
    assert [f.id for f in client.files.list(purpose="batch", order="asc", limit=3)] == batch_files
    assert len(client.files.list().data) == 5
    raw = httpx.get(f"{server.base_url}/files", params={"purpose": "nothing"},
                    headers={"authorization": "Bearer sk-test"}).json()
    assert raw == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    bad = httpx.get(f"{server.base_url}/files", params={"order": "sideways"},
                    headers={"authorization": "Bearer sk-test"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "order"


def test_delete_then_404_everywhere(client: openai.OpenAI) -> None:
    f = upload(client, [chat_line(0)])
    deleted = client.files.delete(f.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (f.id, "file", True)
    for call in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError) as err:
            call(f.id)
        assert err.value.body == {"message": f"No such File object: {f.id}", "type": "invalid_request_error",
                                  "param": "id", "code": None}
    assert f.id not in [x.id for x in client.files.list()]


def test_deleting_an_input_file_mid_batch_does_not_break_the_batch(server, client: openai.OpenAI) -> None:
    f = upload(client, [chat_line(i) for i in range(4)])
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    server.advance(1.5)
    client.files.delete(f.id)
    server.advance(60)
    b = client.batches.retrieve(batch.id)
    assert b.status == "completed" and b.request_counts.completed == 4


@pytest.mark.parametrize(
    ("filename", "purpose", "status", "message", "param"),
    [
        ("data.csv", "batch", 400, "Invalid file format for Batch API. Must be .jsonl", None),
        ("data.jsonl", "vector_store", 400,
         "'vector_store' is not one of ['fine-tune', 'assistants', 'batch', 'user_data', 'vision', 'evals'] - "
         "'purpose'", "purpose"),
    ],
)
def test_upload_refusals(client: openai.OpenAI, filename: str, purpose: str, status: int, message: str,
                         param: str | None) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        client.files.create(file=(filename, b"{}\n"), purpose=purpose)  # type: ignore[arg-type]
    assert err.value.status_code == status
    assert err.value.body == {"message": message, "type": "invalid_request_error", "param": param, "code": None}


@pytest.mark.parametrize("content", [b"this is not json\n", b"\xef\xbb\xbf{oops\n{}\n", b"\n\n[1,\n"])
def test_batch_upload_whose_first_line_is_not_json_is_refused(client: openai.OpenAI, content: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=("bad.jsonl", content), purpose="batch")
    assert err.value.body == {"message": "Invalid file format for Batch API. Must be .jsonl",
                              "type": "invalid_request_error", "param": None, "code": None}


@pytest.mark.parametrize("content", [b"", b"\n", b'{"ok": 1}\nnot json\n', b'{"a": "' + b"x" * (2 << 20) + b'"}'])
def test_batch_upload_checks_only_the_first_line(client: openai.OpenAI, content: bytes) -> None:
    assert client.files.create(file=("fine.jsonl", content), purpose="batch").bytes == len(content)


def test_upload_without_file_or_purpose(server) -> None:
    headers = {"authorization": "Bearer sk-test"}
    r = httpx.post(f"{server.base_url}/files", data={"purpose": "batch"}, files={"other": ("a", b"x")},
                   headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = httpx.post(f"{server.base_url}/files", files={"file": ("a.jsonl", b"{}")}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"
