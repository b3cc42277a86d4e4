"""Per-line request validation (mockbatch/linecheck.py): one bad line among good ones on every endpoint, through a real
server and the official SDK (the batch completes, the line is in the error file with the real 400 body and counts as
failed); the recorded wording of each kind of problem; the compiled checker on many cases; the vendored schema data."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from mockbatch import catalog, linecheck
from mockbatch.catalog import DEFAULT
from tests.helpers import read_jsonl, start_batch

C, R = catalog.CHAT, catalog.RESPONSES
HI = [{"role": "user", "content": "hi"}]


def error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def check(endpoint: str, body: dict[str, Any]) -> dict[str, Any] | None:
    problem = linecheck.check(endpoint, body, DEFAULT.lookup(body.get("model", ""), endpoint))
    return None if problem is None else error(*problem)


# (endpoint, a good body, a bad body, the bad line's error body): one batch each
BAD_LINES = [
    (C, {"model": "gpt-4o-mini", "messages": HI}, {"model": "gpt-4o-mini", "messages": [{"content": "hi"}]},
     error("Missing required parameter: 'messages[0].role'.", "messages[0].role", "missing_required_parameter")),
    (R, {"model": "gpt-4o-mini", "input": "hi"},
     {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "hi", "foo": 1}]},
     error("Unknown parameter: 'input[0].foo'.", "input[0].foo", "unknown_parameter")),
    (catalog.EMBEDDINGS, {"model": "text-embedding-3-small", "input": "hi"},
     {"model": "text-embedding-3-small", "input": "hi", "encoding_format": "hex"},
     error("Invalid value: 'hex'. Supported values are: 'float', and 'base64'.", "encoding_format", "invalid_value")),
    (catalog.COMPLETIONS, {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"},
     {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "temperature": "hot"},
     error("Invalid type for 'temperature': expected a decimal, but got a string instead.", "temperature",
           "invalid_type")),
    (catalog.MODERATIONS, {"model": "omni-moderation-latest", "input": "hi"},
     {"model": "omni-moderation-latest", "input": [{"type": "image_url", "image_url": {}}]},
     error("Missing required parameter: 'input[0].image_url.url'.", "input[0].image_url.url",
           "missing_required_parameter")),
    (catalog.IMAGES_GENERATIONS, {"model": "gpt-image-1", "prompt": "a cat"},
     {"model": "gpt-image-1", "prompt": "a cat", "quality": "ultra"},
     error("Invalid value: 'ultra'. Supported values are: 'standard', 'hd', 'low', 'medium', 'high', and 'auto'.",
           "quality", "invalid_value")),
    (catalog.IMAGES_EDITS, {"model": "gpt-image-1", "prompt": "a hat", "images": [{"file_id": "file-1"}]},
     {"model": "gpt-image-1", "prompt": "a hat", "images": []},
     error("Invalid 'images': empty array. Expected an array with minimum length 1, but got an empty array instead.",
           "images", "empty_array")),
    (catalog.VIDEOS, {"model": "sora-2", "prompt": "a wave"}, {"model": "sora-2", "prompt": "a wave", "seconds": 4},
     error("Invalid type for 'seconds': expected a string, but got an integer instead.", "seconds", "invalid_type")),
]


@pytest.mark.parametrize(("endpoint", "good", "bad", "expected"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_one_bad_line_fails_alone(server, client: openai.OpenAI, endpoint: str, good: dict[str, Any],
                                  bad: dict[str, Any], expected: dict[str, Any]) -> None:
    lines = [{"custom_id": f"line-{i}", "method": "POST", "url": endpoint, "body": b}
             for i, b in enumerate([good, bad, good])]
    batch = start_batch(client, lines, endpoint=endpoint)
    server.advance(3600)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed", batch.errors
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (3, 2, 1)
    (row,) = read_jsonl(client, batch.error_file_id)
    assert row["custom_id"] == "line-1" and row["error"] is None
    assert row["response"]["status_code"] == 400 and row["response"]["body"] == expected
    assert sorted(r["custom_id"] for r in read_jsonl(client, batch.output_file_id)) == ["line-0", "line-2"]


# The examples of the issue, each exactly.
EXAMPLES = [
    (C, {"messages": [{"content": "hi"}]},
     error("Missing required parameter: 'messages[0].role'.", "messages[0].role", "missing_required_parameter")),
    (C, {"messages": HI, "temperature": "warm"},
     error("Invalid type for 'temperature': expected a decimal, but got a string instead.", "temperature",
           "invalid_type")),
    (C, {"messages": [{"role": "robot", "content": "hi"}]},
     error("Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and "
           "'developer'.", "messages[0].role", "invalid_value")),
    (C, {"messages": HI, "temperature": 3},
     error("Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.",
           "temperature", "decimal_above_max_value")),
    (C, {"messages": HI, "presence_penalty": -2.5},
     error("Invalid 'presence_penalty': decimal below minimum value. Expected a value >= -2, but got -2.5 instead.",
           "presence_penalty", "decimal_below_min_value")),
    (C, {"messages": HI, "n": 129},
     error("Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead.", "n",
           "integer_above_max_value")),
    (C, {"messages": HI, "top_logprobs": -1},
     error("Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but got -1 instead.",
           "top_logprobs", "integer_below_min_value")),
    (C, {"messages": []},
     error("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array "
           "instead.", "messages", "empty_array")),
    (catalog.EMBEDDINGS, {"input": ["a"] * 2049},
     error("Invalid 'input': array too long. Expected an array with maximum length 2048, but got an array with "
           "length 2049 instead.", "input", "array_above_max_length")),
    (R, {"input": [{"role": "user", "content": "hi", "foo": 1}]},
     error("Unknown parameter: 'input[0].foo'.", "input[0].foo", "unknown_parameter")),
    (R, {"input": "hi", "foo": 1}, error("Unknown parameter: 'foo'.", "foo", "unknown_parameter")),
    (C, {"messages": HI, "foo": 1}, error("Unrecognized request argument supplied: foo", None, None)),
    (C, {"messages": HI, "stream_options": {"bogus": 1}},
     error("Unknown parameter: 'stream_options.bogus'.", "stream_options.bogus", "unknown_parameter")),
    (C, {"model": "o3", "messages": HI, "temperature": 0.5},
     error("Unsupported parameter: 'temperature' is not supported with this model.", "temperature",
           "unsupported_parameter")),
    (R, {"model": "gpt-5", "input": "hi", "top_p": 0.5},
     error("Unsupported parameter: 'top_p' is not supported with this model.", "top_p", "unsupported_parameter")),
]


@pytest.mark.parametrize(("endpoint", "body", "expected"), EXAMPLES, ids=range(len(EXAMPLES)))
def test_recorded_wording(endpoint: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    """Through the generator wrapper: the schema's words, or the generator's own where it keeps them."""
    from mockbatch.generators import GENERATORS, LineContext

    model = "text-embedding-3-small" if endpoint == catalog.EMBEDDINGS else "gpt-4o-mini"
    full = {"model": model, **body}
    result = GENERATORS[endpoint](full, LineContext(1, "x", full, 1, DEFAULT.lookup(full["model"], endpoint)))
    assert (result.status_code, result.body) == (400, expected)


def test_the_examples_through_a_server(server, client: openai.OpenAI) -> None:
    bodies = [{"model": "gpt-4o-mini", **b} for e, b, _ in EXAMPLES if e == C and "model" not in b]
    lines = [{"custom_id": f"line-{i}", "method": "POST", "url": C, "body": b} for i, b in enumerate(bodies)]
    batch = start_batch(client, [*lines, {"custom_id": "ok", "method": "POST", "url": C,
                                          "body": {"model": "gpt-4o-mini", "messages": HI}}])
    server.advance(3600)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, len(bodies))
    got = {r["custom_id"]: r["response"]["body"] for r in read_jsonl(client, batch.error_file_id)}
    expected = [x for e, b, x in EXAMPLES if e == C and "model" not in b]
    assert got == {f"line-{i}": x for i, x in enumerate(expected)}


def test_reasoning_max_tokens_keeps_its_own_words() -> None:
    from mockbatch.generators import GENERATORS, LineContext

    body = {"model": "o3-mini", "messages": HI, "max_tokens": 5}
    result = GENERATORS[C](body, LineContext(1, "x", body, 1, DEFAULT["o3-mini"]))
    assert result.status_code == 400 and result.body == error(
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        "max_tokens", "unsupported_parameter")


# The compiled checker: (endpoint, body without model, expected error or None)
UNITS: list[tuple[str, dict[str, Any], tuple[str, str | None, str | None] | None]] = [
    # valid requests, of every shape the unions take
    (C, {"messages": HI, "max_tokens": 100, "temperature": 0.2, "metadata": {"k": "v"}, "store": True,
         "stream_options": {"include_usage": True}, "seed": 3, "logit_bias": {"50256": -100}, "user": "u"}, None),
    (C, {"messages": [{"role": "developer", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"}]}, None),
    (C, {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"},
                                                   {"type": "image_url", "image_url": {"url": "https://a/b.png"}}]}]},
     None),
    (C, {"messages": HI, "stop": "x", "response_format": {"type": "json_schema", "json_schema": {
        "name": "n", "schema": {"type": "object", "anything": ["goes"]}}}}, None),
    (C, {"messages": HI, "tool_choice": {"type": "function", "function": {"name": "f"}}, "temperature": None}, None),
    (R, {"input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
                   {"type": "function_call_output", "call_id": "c", "output": "y"},
                   {"type": "item_reference", "id": "msg_1"}]}, None),
    (R, {"input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "custom", "name": "g"}],
         "reasoning": {"effort": "low"}, "text": {"format": {"type": "json_object"}}, "include": [
            "message.output_text.logprobs"]}, None),
    (catalog.COMPLETIONS, {"prompt": [[1, 2], "a"], "echo": True, "logprobs": 0}, None),
    (catalog.EMBEDDINGS, {"input": [[1, 2], [3]], "dimensions": 8}, None),
    (catalog.EMBEDDINGS, {"input": list(range(5000))}, None),  # one token array (its limit is the generator's)
    (catalog.MODERATIONS, {"input": [{"type": "text", "text": "x"}]}, None),
    (catalog.IMAGES_EDITS, {"prompt": "x", "image": "file-1", "size": "512x512"}, None),
    (catalog.IMAGES_GENERATIONS, {"prompt": "x", "size": "3840x2160", "images": [{"file_id": "f"}]}, None),
    (catalog.VIDEOS, {"prompt": "x", "seconds": "8", "size": "1280x720", "input_reference": {"file_id": "f"}}, None),
    # types
    (C, {"messages": "hi"}, ("Invalid type for 'messages': expected an array of objects, but got a string instead.",
                             "messages", "invalid_type")),
    (C, {"messages": [7]}, ("Invalid type for 'messages[0]': expected an object, but got an integer instead.",
                            "messages[0]", "invalid_type")),
    (C, {"messages": [{"role": "user", "content": 5}]}, (
        "Invalid type for 'messages[0].content': expected one of a string or array of objects, but got an integer "
        "instead.", "messages[0].content", "invalid_type")),
    (C, {"messages": HI, "n": 2.0}, ("Invalid type for 'n': expected an integer, but got a decimal instead.", "n",
                                     "invalid_type")),
    (C, {"messages": HI, "n": True}, ("Invalid type for 'n': expected an integer, but got a boolean instead.", "n",
                                      "invalid_type")),
    (C, {"messages": HI, "logprobs": "yes"}, ("Invalid type for 'logprobs': expected a boolean, but got a string "
                                              "instead.", "logprobs", "invalid_type")),
    (C, {"messages": HI, "metadata": {"k": 1}}, ("Invalid type for 'metadata.k': expected a string, but got an "
                                                 "integer instead.", "metadata.k", "invalid_type")),
    (C, {"messages": HI, "logit_bias": {"1": 0.5}}, ("Invalid type for 'logit_bias.1': expected an integer, but got "
                                                     "a decimal instead.", "logit_bias.1", "invalid_type")),
    # nested paths, missing and unknown
    (C, {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url",
                                                                                   "image_url": {}}]}]},
     ("Missing required parameter: 'messages[0].content[1].image_url.url'.", "messages[0].content[1].image_url.url",
      "missing_required_parameter")),
    (C, {"messages": [{"role": "user", "content": [{"type": "image_url",
                                                   "image_url": {"url": "u", "detail": "max"}}]}]},
     ("Invalid value: 'max'. Supported values are: 'auto', 'low', and 'high'.",
      "messages[0].content[0].image_url.detail", "invalid_value")),
    (C, {"messages": [{"role": "user", "content": "x", "foo": 1}]},
     ("Unknown parameter: 'messages[0].foo'.", "messages[0].foo", "unknown_parameter")),
    (C, {"messages": HI, "response_format": {"type": "json_schema"}},
     ("Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema",
      "missing_required_parameter")),
    (C, {"messages": HI, "response_format": {"type": "bogus"}},
     ("Invalid value: 'bogus'. Supported values are: 'text', 'json_schema', and 'json_object'.", "response_format.type",
      "invalid_value")),
    (C, {"messages": HI, "tools": [{"type": "function"}]},
     ("Missing required parameter: 'tools[0].function'.", "tools[0].function", "missing_required_parameter")),
    (C, {"messages": [{"role": "tool", "content": "x"}]},
     ("Missing required parameter: 'messages[0].tool_call_id'.", "messages[0].tool_call_id",
      "missing_required_parameter")),
    (R, {"input": [{"type": "function_call_output", "call_id": "c"}]},
     ("Missing required parameter: 'input[0].output'.", "input[0].output", "missing_required_parameter")),
    (R, {"input": [{"type": "nonsense"}]}, None),  # checked below: an invalid_value listing the item types
    (R, {"input": "x", "reasoning": {"effort": "huge"}},
     ("Invalid value: 'huge'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', 'xhigh', and 'max'.",
      "reasoning.effort", "invalid_value")),
    (R, {"input": [{"type": "function_call_output", "call_id": "c", "output": "y", "namespace": "bad name"}]},
     ("Invalid 'input[0].namespace': string does not match pattern. Expected a string that matches the pattern "
      "'^[a-zA-Z0-9_-]+$'.", "input[0].namespace", "invalid_value")),
    # lengths
    (C, {"messages": HI, "stop": ["a", "b", "c", "d", "e"]}, (
        "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 "
        "instead.", "stop", "array_above_max_length")),
    (C, {"messages": HI, "safety_identifier": "s" * 65}, (
        "Invalid 'safety_identifier': string too long. Expected a string with maximum length 64, but got a string "
        "with length 65 instead.", "safety_identifier", "string_above_max_length")),
    (C, {"messages": [{"role": "user", "content": []}]}, (
        "Invalid 'messages[0].content': empty array. Expected an array with minimum length 1, but got an empty "
        "array instead.", "messages[0].content", "empty_array")),
    (catalog.VIDEOS, {"prompt": ""}, (
        "Invalid 'prompt': empty string. Expected a string with minimum length 1, but got an empty string instead.",
        "prompt", "empty_string")),
    (catalog.VIDEOS, {"prompt": "p" * 32_001}, (
        "Invalid 'prompt': string too long. Expected a string with maximum length 32000, but got a string with "
        "length 32001 instead.", "prompt", "string_above_max_length")),
    (catalog.IMAGES_EDITS, {"prompt": "x", "images": [{"file_id": "f", "image_url": "u"}]}, (
        "Invalid 'images[0]': expected only one of 'image_url' or 'file_id', but got both instead.", "images[0]",
        "invalid_value")),
    # ranges
    (R, {"input": "x", "max_output_tokens": 5}, (
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 5 instead.",
        "max_output_tokens", "integer_below_min_value")),
    (catalog.EMBEDDINGS, {"input": "x", "dimensions": 0}, (
        "Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got 0 instead.", "dimensions",
        "integer_below_min_value")),
    (C, {"messages": HI, "top_p": 1.5}, (
        "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.5 instead.", "top_p",
        "decimal_above_max_value")),
    # endpoints' own choices
    (catalog.EMBEDDINGS, {"input": "x", "foo": 1}, ("Unrecognized request argument supplied: foo", None, None)),
    (catalog.MODERATIONS, {"input": "x", "foo": 1}, ("Unknown parameter: 'foo'.", "foo", "unknown_parameter")),
    (catalog.EMBEDDINGS, {"input": []}, None),  # the generator's own words: "'$.input' is invalid. ..."
    (catalog.IMAGES_GENERATIONS, {"prompt": "x", "image": "edit.png"}, None),  # an edit's, bounded by the generator
    (catalog.IMAGES_GENERATIONS, {"prompt": "x", "sizee": "1024x1024"},
     ("Unknown parameter: 'sizee'.", "sizee", "unknown_parameter")),  # any other unknown one is refused
]
MODELS = {C: "gpt-4o-mini", R: "gpt-4o-mini", catalog.COMPLETIONS: "gpt-3.5-turbo-instruct",
          catalog.EMBEDDINGS: "text-embedding-3-small", catalog.MODERATIONS: "omni-moderation-latest",
          catalog.IMAGES_GENERATIONS: "gpt-image-1", catalog.IMAGES_EDITS: "gpt-image-1", catalog.VIDEOS: "sora-2"}


@pytest.mark.parametrize(("endpoint", "body", "expected"), UNITS, ids=range(len(UNITS)))
def test_checker(endpoint: str, body: dict[str, Any], expected: tuple[str, str | None, str | None] | None) -> None:
    if body.get("input") == [{"type": "nonsense"}]:
        message, param, code = linecheck.check(endpoint, {"model": MODELS[endpoint], **body}) or ("", "", "")
        assert (param, code) == ("input[0].type", "invalid_value")
        assert message.startswith("Invalid value: 'nonsense'. Supported values are: 'message', ")
        return
    full = {"model": MODELS[endpoint], **body}
    assert linecheck.check(endpoint, full) == expected
    # The same problem whatever the order of the body's keys
    assert linecheck.check(endpoint, json.loads(json.dumps(dict(reversed(full.items()))))) == expected


def test_reasoning_parameters_count_only_when_given() -> None:
    o3 = DEFAULT["o3"]
    assert linecheck.check(C, {"model": "o3", "messages": HI, "temperature": None, "logprobs": False}, o3) is None
    assert linecheck.check(C, {"model": "o3", "messages": HI, "logprobs": True}, o3) == (
        "Unsupported parameter: 'logprobs' is not supported with this model.", "logprobs", "unsupported_parameter")
    assert linecheck.check(C, {"model": "gpt-4o", "messages": HI, "temperature": 0.1}, DEFAULT["gpt-4o"]) is None


def test_type_errors_come_before_the_model_refusing_a_parameter() -> None:
    assert linecheck.check(C, {"model": "o3", "messages": HI, "temperature": "x"}, DEFAULT["o3"])[2] == "invalid_type"


def test_every_golden_request_passes() -> None:
    from tests.test_generators import CASES

    for case in CASES:
        problem = linecheck.check(case.endpoint, case.body, DEFAULT.lookup(case.body["model"], case.endpoint))
        assert problem is None or case.status == 400, (case.name, problem)


def test_the_data_file_is_the_eight_endpoints_and_small() -> None:
    data = json.loads(linecheck.DATA.read_text())
    assert set(data["endpoints"]) == set(linecheck.UNSUPPORTED_WITH_REASONING) | {
        catalog.EMBEDDINGS, catalog.COMPLETIONS, catalog.MODERATIONS, catalog.IMAGES_GENERATIONS,
        catalog.IMAGES_EDITS, catalog.VIDEOS}
    assert "f85dbe2" in data["source"] and linecheck.DATA.stat().st_size < 150_000
    keywords: set[str] = set()

    def walk(node: Any) -> None:  # the keywords schemas use (a `properties` table's keys are names, not keywords)
        if isinstance(node, dict):
            keywords.update(node)
            for key, value in node.items():
                for child in (value.values() if key == "properties" else [value]):
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
    walk(data["$defs"])
    assert not keywords & {"description", "example", "examples", "default", "format", "title"}, keywords
    assert "#/components/" not in json.dumps(data)
