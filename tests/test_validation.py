"""The validation catalogue, one row per case, end to end: upload the file, create the batch, let it
validate, and compare `errors.data` exactly. Plus the enqueued-token limit and the validator's pure parts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from mockbatch import validation
from mockbatch.server import MockBatchServer
from tests.conftest import START

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS = "/v1/completions"
MODERATIONS = "/v1/moderations"
IMAGES = "/v1/images/generations"
VIDEOS = "/v1/videos"

DEFAULT_BODY = {
    CHAT: {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]},
    RESPONSES: {"model": "gpt-4o-mini", "input": "Say hello"},
    EMBEDDINGS: {"model": "text-embedding-3-small", "input": "some text"},
    COMPLETIONS: {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello"},
    MODERATIONS: {"model": "omni-moderation-latest", "input": "some text"},
    IMAGES: {"model": "gpt-image-1", "prompt": "a cat"},
    VIDEOS: {"model": "sora-2", "prompt": "a cat"},
}


def line(i: int, url: str = CHAT, drop: tuple[str, ...] = (), body: dict[str, Any] | None = None,
         without: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A valid request line for `url`, then changed: body keys merged/removed, line fields set/removed."""
    b = {**DEFAULT_BODY[url], **(body or {})}
    for key in without:
        b.pop(key)
    out = {"custom_id": f"request-{i}", "method": "POST", "url": url, "body": b, **fields}
    for key in drop:
        out.pop(key)
    return out


def err(code: str, message: str, param: str | None, n: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": n}


def encode(lines: list[Any] | bytes) -> bytes:
    if isinstance(lines, bytes):
        return lines
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def invalid_type(param: str, expected: str, got: str, n: int) -> dict[str, Any]:
    return err("invalid_request", f"Invalid type for '{param}': expected {expected}, but got {got} instead.", param, n)


def required(name: str, n: int) -> dict[str, Any]:
    return err("invalid_request", f"{name.capitalize()} parameter is required.", f"body.{name}", n)


def streaming(product: str, n: int) -> dict[str, Any]:
    return err("streaming_unsupported", f"{product}: Streaming is not supported in the Batch API.", "body.stream", n)


MODEL_REQUIRED = err("invalid_request", "Model parameter is required.", "body.model", 1)
PROMPT = {"id": "pmpt_0123456789abcdef", "version": "2", "variables": {"city": "Paris"}}
MANY_LINES = "".join(json.dumps(line(i)) + "\n" for i in range(50_001)).encode()

# (case id, endpoint, file lines or bytes, the errors expected, or for an accepted file its request count)
CASES: list[tuple[str, str, list[Any] | bytes, list[dict[str, Any]] | int]] = [
    ("line-not-json", CHAT, [line(0), "{not json"],
     [err("invalid_json_line", "This line is not parseable as valid JSON.", None, 2)]),
    ("nan-is-not-json", CHAT, [line(0), '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
                                        '"body": {"model": "gpt-4o-mini", "messages": [], "temperature": NaN}}'],
     [err("invalid_json_line", "This line is not parseable as valid JSON.", None, 2)]),
    ("line-not-an-object", CHAT, ["[1, 2]"], [err("invalid_request", "This line is not a JSON object.", None, 1)]),
    *[(f"missing-{key}", CHAT, [line(0, drop=(key,))],
       [err("missing_required_parameter", f"Missing required parameter: '{key}'.", key, 1)])
      for key in ("custom_id", "method", "url", "body")],
    ("null-custom_id-is-missing", CHAT, [line(0, custom_id=None)],
     [err("missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id", 1)]),
    ("custom_id-not-a-string", CHAT, [line(0, custom_id=7)], [invalid_type("custom_id", "a string", "an integer", 1)]),
    ("body-not-an-object", CHAT, [line(0, body=None) | {"body": "hello"}],
     [invalid_type("body", "an object", "a string", 1)]),
    ("method-not-post", CHAT, [line(0, method="GET")],
     [err("invalid_value", "Invalid value: 'GET'. Supported values are: 'POST'.", "method", 1)]),
    ("url-not-the-endpoint", CHAT, [line(0), line(1, url=EMBEDDINGS)],
     [err("invalid_url", "The URL provided for this request does not match the batch endpoint.", "url", 2)]),
    ("stream-chat", CHAT, [line(0, body={"stream": True})], [streaming("Chat Completions", 1)]),
    ("stream-responses", RESPONSES, [line(0, RESPONSES, body={"stream": True})], [streaming("Responses", 1)]),
    ("stream-completions", COMPLETIONS, [line(0, COMPLETIONS, body={"stream": True})], [streaming("Completions", 1)]),
    ("stream-moderations", MODERATIONS, [line(0, MODERATIONS, body={"stream": True})], [streaming("Moderations", 1)]),
    ("stream-false-is-fine", CHAT, [line(0, body={"stream": False})], 1),
    ("model-missing", CHAT, [line(0, without=("model",))], [MODEL_REQUIRED]),
    ("model-not-a-string", CHAT, [line(0, body={"model": 4})],
     [invalid_type("body.model", "a string", "an integer", 1)]),
    ("messages-missing", CHAT, [line(0, without=("messages",))], [required("messages", 1)]),
    ("input-missing-responses", RESPONSES, [line(0, RESPONSES, without=("input",))], [required("input", 1)]),
    ("input-missing-embeddings", EMBEDDINGS, [line(0, EMBEDDINGS, without=("input",))], [required("input", 1)]),
    ("input-missing-moderations", MODERATIONS, [line(0, MODERATIONS, without=("input",))], [required("input", 1)]),
    ("prompt-missing-completions", COMPLETIONS, [line(0, COMPLETIONS, without=("prompt",))], [required("prompt", 1)]),
    ("prompt-missing-images", IMAGES, [line(0, IMAGES, without=("prompt",))], [required("prompt", 1)]),
    ("prompt-missing-videos", VIDEOS, [line(0, VIDEOS, without=("prompt",))], [required("prompt", 1)]),
    ("saved-prompt-without-model", RESPONSES, [line(0, RESPONSES, body={"prompt": PROMPT}, without=("model", "input"))],
     [MODEL_REQUIRED]),
    ("saved-prompt-with-model-and-input", RESPONSES, [line(0, RESPONSES, body={"prompt": PROMPT})], 1),
    ("saved-prompt-stands-in-for-input", RESPONSES, [line(0, RESPONSES, body={"prompt": PROMPT}, without=("input",))],
     1),
    ("model-unknown", CHAT, [line(0, body={"model": "nonexistent-model-xyz"})],
     [err("model_not_found", "The provided model 'nonexistent-model-xyz' is not supported by the Batch API.",
          "body.model", 1)]),
    ("model-of-another-endpoint", CHAT, [line(0, body={"model": "text-embedding-3-small"})],
     [err("model_not_found", "The provided model 'text-embedding-3-small' is not supported by the Batch API.",
          "body.model", 1)]),
    ("mismatched-model", CHAT, [line(0), line(1, body={"model": "gpt-4o"})],
     [err("mismatched_model", "The model 'gpt-4o' for this request does not match the rest of the batch. "
          "Each batch must contain requests for a single model.", "body.model", 2)]),
    ("alias-and-snapshot-are-one-model", CHAT, [line(0), line(1, body={"model": "gpt-4o-mini-2024-07-18"})], 2),
    ("duplicate-custom_id", CHAT, [line(0), line(1), line(0)],
     [err("duplicate_custom_id", "The custom_id 'request-0' for this request is a duplicate of another request. "
          "The custom_id parameter must be unique for each request in a batch.", "custom_id", 3)]),
    ("duplicate-of-an-invalid-line", CHAT, [line(0, method="PUT"), line(1), line(0)],
     [err("invalid_value", "Invalid value: 'PUT'. Supported values are: 'POST'.", "method", 1),
      err("duplicate_custom_id", "The custom_id 'request-0' for this request is a duplicate of another request. "
          "The custom_id parameter must be unique for each request in a batch.", "custom_id", 3)]),
    ("empty-file", CHAT, b"", [err("empty_file", "The batch input file is empty.", None, None)]),
    ("blank-lines-only", CHAT, b"\n  \r\n\n", [err("empty_file", "The batch input file is empty.", None, None)]),
    ("bom-crlf-and-blank-lines", CHAT, b"\xef\xbb\xbf" + encode([line(0)]).replace(b"\n", b"\r\n") + b"\r\n\r\n"
     + encode([line(1)]), 2),
    ("more-than-50000-lines", CHAT, MANY_LINES,
     [err("too_many_tasks", "The number of requests in the input file exceeds the maximum allowed value of 50,000.",
          None, None)]),
    ("more-than-50000-embedding-inputs", EMBEDDINGS,
     [line(0, EMBEDDINGS, body={"input": ["a"] * 30_000}), line(1, EMBEDDINGS, body={"input": [[1, 2]] * 20_000}),
      line(2, EMBEDDINGS, body={"input": "one more"})],
     [err("too_many_tasks", "The number of embedding inputs in the input file exceeds the maximum allowed value of "
          "50,000.", "body.input", 3)]),
    ("50000-embedding-inputs-is-fine", EMBEDDINGS,  # at most 2,048 inputs a request; small vectors: a quick output
     [*[line(i, EMBEDDINGS, body={"input": ["a"] * 2_000, "dimensions": 1}) for i in range(24)],
      line(24, EMBEDDINGS, body={"input": [[1, 2, 3]] * 1_999, "dimensions": 1}),
      line(25, EMBEDDINGS, body={"input": "b", "dimensions": 1})], 26),
    ("every-error-in-line-order", CHAT,
     [line(0, drop=("custom_id",)), "{not json", line(2, method="PUT"), line(3), line(4, body={"stream": True}),
      line(3, body={"model": "gpt-4o"}), line(6, body={"model": "gpt-4o"}), line(7, without=("messages",)),
      line(8, url=RESPONSES)],
     [err("missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id", 1),
      err("invalid_json_line", "This line is not parseable as valid JSON.", None, 2),
      err("invalid_value", "Invalid value: 'PUT'. Supported values are: 'POST'.", "method", 3),
      streaming("Chat Completions", 5),
      err("duplicate_custom_id", "The custom_id 'request-3' for this request is a duplicate of another request. "
          "The custom_id parameter must be unique for each request in a batch.", "custom_id", 6),
      err("mismatched_model", "The model 'gpt-4o' for this request does not match the rest of the batch. "
          "Each batch must contain requests for a single model.", "body.model", 7),
      required("messages", 8),
      err("invalid_url", "The URL provided for this request does not match the batch endpoint.", "url", 9)]),
]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[MockBatchServer, openai.OpenAI]]:
    with MockBatchServer(clock="manual", seed=7, start_time=START) as server:
        yield server, openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def run(server: MockBatchServer, client: openai.OpenAI, data: bytes, endpoint: str) -> openai.types.Batch:
    f = client.files.create(file=("input.jsonl", data), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint=endpoint, completion_window="24h")  # type: ignore[arg-type]
    assert batch.status == "validating"
    server.advance(60)  # enough for the largest accepted case (26 requests at 0.5 s)
    return client.batches.retrieve(batch.id)


@pytest.mark.parametrize(("endpoint", "lines", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_catalogue(shared: tuple[MockBatchServer, openai.OpenAI], endpoint: str, lines: list[Any] | bytes,
                   expected: list[dict[str, Any]] | int) -> None:
    server, client = shared
    b = run(server, client, encode(lines), endpoint)
    if isinstance(expected, int):
        assert b.errors is None and b.status == "completed" and b.failed_at is None
        assert b.request_counts is not None and b.request_counts.model_dump() == {
            "total": expected, "completed": expected, "failed": 0}
        return
    assert b.status == "failed" and b.in_progress_at is None and b.failed_at == b.created_at + 1
    assert b.errors is not None and b.errors.object == "list"
    assert [e.model_dump() for e in b.errors.data] == expected


def test_missing_input_file_is_created_then_fails(shared: tuple[MockBatchServer, openai.OpenAI]) -> None:
    server, client = shared
    b = client.batches.create(input_file_id="file-nothere", endpoint=CHAT, completion_window="24h")
    assert b.status == "validating" and b.errors is None
    server.advance(5)
    b = client.batches.retrieve(b.id)
    assert b.status == "failed" and b.errors is not None
    assert [e.model_dump() for e in b.errors.data] == [err(
        "invalid_request", "Cannot find file file-nothere, or organization org-mockbatch does not have access to it.",
        "file_id", None)]


# -- the enqueued-token limit -----------------------------------------------------------------------------
def limit_error(model: str, limit: str) -> dict[str, Any]:
    return err("token_limit_exceeded", f"Enqueued token limit reached for {model} in organization org-mockbatch. "
               f"Limit: {limit} enqueued tokens. Please try again once some in_progress batches have been completed.",
               None, None)


def sized(i: int, tokens: int, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A chat line whose estimated tokens are exactly `tokens`: 'user' + ' ' + content, four characters a token."""
    return line(i, body={"model": model, "messages": [{"role": "user", "content": "x" * (4 * tokens - 5)}]})


def start(client: openai.OpenAI, lines: list[Any]) -> str:
    f = client.files.create(file=("input.jsonl", encode(lines)), purpose="batch")
    return client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h").id


def test_token_limit_counts_the_tenants_queued_batches_per_model(
        server_factory: Callable[..., MockBatchServer]) -> None:
    server = server_factory(enqueued_token_limit=100, request_seconds=100)
    alice = openai.OpenAI(base_url=server.base_url, api_key="sk-alice", max_retries=0)
    bob = openai.OpenAI(base_url=server.base_url, api_key="sk-bob", max_retries=0)
    first = start(alice, [sized(0, 30), sized(1, 30)])  # 60 tokens
    server.advance(5)
    assert alice.batches.retrieve(first).status == "in_progress"
    exactly = start(alice, [sized(0, 40)])  # 60 + 40 = 100: at the limit is fine
    server.advance(5)
    assert alice.batches.retrieve(exactly).status == "in_progress"
    over = start(alice, [sized(0, 1)])  # 101: over
    other_model = start(alice, [sized(0, 90, model="gpt-4o")])
    other_tenant = start(bob, [sized(0, 90)])
    server.advance(5)
    b = alice.batches.retrieve(over)
    assert b.status == "failed" and b.errors is not None
    assert [e.model_dump() for e in b.errors.data] == [limit_error("gpt-4o-mini", "100")]
    assert alice.batches.retrieve(other_model).status == "in_progress"
    assert bob.batches.retrieve(other_tenant).status == "in_progress"
    # Cancelled and finished batches no longer count.
    alice.batches.cancel(first)
    alice.batches.cancel(exactly)
    server.advance(5)
    again = start(alice, [sized(0, 100)])
    server.advance(5)
    assert alice.batches.retrieve(again).status == "in_progress"


def test_token_limit_alone_and_the_model_defaults(server_factory: Callable[..., MockBatchServer]) -> None:
    server = server_factory()
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    big = start(client, [sized(0, 1_000_000), sized(1, 1_000_001)])  # one batch over gpt-4o-mini's 2,000,000
    snapshot = start(client, [sized(0, 60_000, model="gpt-4o-2024-08-06"), sized(1, 30_001, model="gpt-4o")])
    server.advance(5)
    for batch_id, model, limit in ((big, "gpt-4o-mini", "2,000,000"), (snapshot, "gpt-4o", "90,000")):
        b = client.batches.retrieve(batch_id)
        assert b.status == "failed" and b.errors is not None and b.request_counts is not None
        assert [e.model_dump() for e in b.errors.data] == [limit_error(model, limit)]
        assert b.request_counts.total == 0


def test_token_limit_unlimited_models(server_factory: Callable[..., MockBatchServer]) -> None:
    server = server_factory()
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    f = client.files.create(file=("m.jsonl", encode([line(0, MODERATIONS, body={"input": "x" * 12_000_000})])),
                            purpose="batch")
    b = client.batches.create(input_file_id=f.id, endpoint=MODERATIONS, completion_window="24h")
    server.advance(1)
    assert client.batches.retrieve(b.id).status == "in_progress"


# -- the pure parts ---------------------------------------------------------------------------------------
def test_request_tokens_rule() -> None:
    body = {"model": "gpt-4o-mini-with-a-long-name", "messages": [{"role": "user", "content": "abcdefg"}],
            "max_tokens": 1000, "stop": ["END"]}
    assert validation.request_tokens(body) == (len("user abcdefg END") + 3) // 4
    assert validation.request_tokens({"model": "m", "input": [[1, 2, 3], [4]]}) == 4
    assert validation.request_tokens({"model": "m", "input": [True, 1.5]}) == 0
    deep: dict[str, Any] = {"model": "m"}
    cur = deep
    for _ in range(5000):  # nesting deeper than the recursion limit is counted, not crashed on
        cur["x"] = {}
        cur = cur["x"]
    cur["x"] = "abcd"
    assert validation.request_tokens(deep) == 1


def test_line_count_boundary() -> None:
    exactly = [json.dumps(line(i)).encode() for i in range(50_000)]
    report = validation.validate(exactly, CHAT, keep_bodies=False)
    assert report.ok and len(report.requests) == 50_000 and report.model == "gpt-4o-mini-2024-07-18"
    assert report.tokens == 50_000 * validation.request_tokens(line(0)["body"])


def test_embedding_inputs() -> None:
    assert [validation.embedding_inputs(v) for v in ("a", ["a", "b"], [1, 2], [[1], [2], [3]], [], [True])] == \
        [1, 2, 1, 3, 0, 1]


def test_errors_are_capped() -> None:
    report = validation.validate([b"nope"] * (validation.MAX_ERRORS + 10), CHAT)
    assert len(report.errors) == validation.MAX_ERRORS and report.count == validation.MAX_ERRORS + 10
    assert report.errors[-1]["line"] == validation.MAX_ERRORS
