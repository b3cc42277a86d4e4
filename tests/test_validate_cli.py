"""`mockbatch validate FILE --endpoint E`: the server's validator, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mockbatch.cli import main
from tests.helpers import chat_line, embedding_line, jsonl

CHAT = "/v1/chat/completions"


def run(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(path), *args])
    return result.exit_code, result.output


def write(tmp_path: Path, lines: list[Any] | bytes, name: str = "input.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(lines if isinstance(lines, bytes) else jsonl(lines))
    return path


def test_a_valid_file_gets_a_summary(tmp_path: Path) -> None:
    lines = [chat_line(i) for i in range(3)]  # "user" + " " + "Say hello #i": 17 characters, 5 tokens each
    assert run(write(tmp_path, lines), "--endpoint", CHAT) == (
        0, "ok: 3 requests, model gpt-4o-mini (gpt-4o-mini-2024-07-18), 15 estimated input tokens\n")
    one = write(tmp_path, [embedding_line(0)], "one.jsonl")
    assert run(one, "--endpoint", "/v1/embeddings") == (
        0, "ok: 1 request, model text-embedding-3-small (text-embedding-3-small), 4 estimated input tokens\n")


def test_every_error_one_a_line_as_the_batch_reports_it(tmp_path: Path) -> None:
    lines = [chat_line(0), "{not json", {**chat_line(2), "method": "GET"}, chat_line(0),
             {**chat_line(4), "body": {"messages": []}}, {k: v for k, v in chat_line(5).items() if k != "url"}]
    code, out = run(write(tmp_path, lines), "--endpoint", CHAT)
    assert code == 1
    assert out.splitlines() == [
        "line 2: invalid_json_line: This line is not parseable as valid JSON. (param: null)",
        "line 3: invalid_value: Invalid value: 'GET'. Supported values are: 'POST'. (param: method)",
        "line 4: duplicate_custom_id: The custom_id 'request-0' for this request is a duplicate of another request. "
        "The custom_id parameter must be unique for each request in a batch. (param: custom_id)",
        "line 5: invalid_request: Model parameter is required. (param: body.model)",
        "line 6: missing_required_parameter: Missing required parameter: 'url'. (param: url)",
    ]


def test_the_endpoint_is_checked_against_each_url(tmp_path: Path) -> None:
    code, out = run(write(tmp_path, [chat_line(0)]), "--endpoint", "/v1/responses")
    assert (code, out) == (1, "line 1: invalid_url: The URL provided for this request does not match the batch "
                              "endpoint. (param: url)\n")


def test_file_wide_errors(tmp_path: Path) -> None:
    assert run(write(tmp_path, b"\n\n", "empty.jsonl"), "--endpoint", CHAT) == (
        1, "file: empty_file: The batch input file is empty. (param: null)\n")
    many = write(tmp_path, b"".join(json.dumps(chat_line(i)).encode() + b"\n" for i in range(50_001)), "many.jsonl")
    assert run(many, "--endpoint", CHAT) == (
        1, "file: too_many_tasks: The number of requests in the input file exceeds the maximum allowed value of "
           "50,000. (param: null)\n")


def test_what_the_upload_would_refuse(tmp_path: Path) -> None:
    code, out = run(write(tmp_path, [chat_line(0)], "input.txt"), "--endpoint", CHAT)
    assert (code, out) == (1, "upload: Invalid file format for Batch API. Must be .jsonl (400 from POST /v1/files)\n")


def test_the_enqueued_token_limit(tmp_path: Path) -> None:
    path = write(tmp_path, [chat_line(i) for i in range(3)])  # 15 estimated tokens
    assert run(path, "--endpoint", CHAT, "--enqueued-token-limit", "15")[0] == 0
    assert run(path, "--endpoint", CHAT, "--enqueued-token-limit", "14") == (
        1, "file: token_limit_exceeded: Enqueued token limit reached for gpt-4o-mini in organization org-mockbatch. "
           "Limit: 14 enqueued tokens. Please try again once some in_progress batches have been completed. "
           "(param: null)\n")
    big = write(tmp_path, [chat_line(0, model="gpt-4o", messages=[{"role": "user", "content": "x" * 360_000}])],
                "big.jsonl")
    code, out = run(big, "--endpoint", CHAT)  # the model's own default: 90,000 for gpt-4o
    assert code == 1 and "Limit: 90,000 enqueued tokens." in out


@pytest.mark.parametrize(("args", "message"), [
    (["--endpoint", "/v1/nope"], "Invalid value for '--endpoint'"),
    ([], "Missing option '--endpoint'"),
    (["--endpoint", CHAT, "--enqueued-token-limit", "0"], "Invalid value for '--enqueued-token-limit'"),
])
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = run(write(tmp_path, [chat_line(0)]), *args)
    assert code == 2 and message in out


def test_a_missing_file(tmp_path: Path) -> None:
    code, out = run(tmp_path / "nowhere.jsonl", "--endpoint", CHAT)
    assert code == 2 and "does not exist" in out


def test_serve_takes_the_enqueued_token_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr("mockbatch.server.serve", seen.append)  # capture the settings instead of serving
    runner = CliRunner()
    assert runner.invoke(main, ["serve", "--enqueued-token-limit", "5000"]).exit_code == 0
    assert runner.invoke(main, ["serve"], env={"MOCKBATCH_ENQUEUED_TOKEN_LIMIT": "77"}).exit_code == 0
    assert runner.invoke(main, ["serve"]).exit_code == 0
    assert [s.enqueued_token_limit for s in seen] == [5000, 77, None]
    result = runner.invoke(main, ["serve", "--enqueued-token-limit", "0"])
    assert result.exit_code == 2 and "Invalid value for '--enqueued-token-limit'" in result.output
