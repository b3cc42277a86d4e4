"""A download cut short by a delete or a reset is the client's business, never a server error."""

from __future__ import annotations

import os

import httpx
import openai
import pytest

SIZE = 48 << 20  # far more than loopback's socket buffers hold: the server is still streaming when we act


@pytest.fixture(scope="module")
def content() -> bytes:
    return os.urandom(SIZE)


@pytest.mark.parametrize("finish", ["read_all", "read_some"])
@pytest.mark.parametrize("act", ["delete", "reset"])
def test_a_file_gone_mid_download_is_no_server_error(server, client: openai.OpenAI, content: bytes, act: str,
                                                     finish: str) -> None:
    f = client.files.create(file=("big.bin", content), purpose="user_data")
    with httpx.stream("GET", f"{server.base_url}/files/{f.id}/content",
                      headers={"authorization": "Bearer sk-test"}, timeout=60) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()
        first = next(chunks)
        if act == "delete":
            client.files.delete(f.id)
        else:
            server.reset()
        if finish == "read_all":
            # The download began before the delete: it is served whole, as the file was then.
            assert first + b"".join(chunks) == content
        else:  # read on, so the server reads chunks after the delete, then hang up halfway
            got = bytearray(first)
            while len(got) < SIZE // 2:
                got += next(chunks)
            assert got == content[:len(got)]
    server.check()  # raises ServerError if the server failed or logged a failure
    assert server.running
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)
