"""Per-request limits through a real server and the official SDK: a line over a limit gets the real 400 in the
error file (the batch still completes), and no line's output is unbounded (the moderations line with 200,000
one-character inputs that once made a 224 MB output line)."""

from __future__ import annotations

import json
import random
import tracemalloc
from typing import Any

import openai
import pytest

from mockbatch import catalog
from mockbatch.catalog import DEFAULT
from mockbatch.generators import GENERATORS, LineContext, schema
from mockbatch.generators.base import LINE_OUTPUT_TOKENS
from tests.helpers import start_batch


def array_error(param: str, limit: int, got: int) -> dict[str, Any]:
    return {"message": f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, but got "
                       f"an array with length {got} instead.", "type": "invalid_request_error", "param": param,
            "code": "array_above_max_length"}


def string_error(param: str, limit: int, got: int) -> dict[str, Any]:
    return {"message": f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, but got "
                       f"a string with length {got} instead.", "type": "invalid_request_error", "param": param,
            "code": "string_above_max_length"}


def run(server: Any, client: openai.OpenAI, endpoint: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Run one batch; the error body of each failed line and the status of every line, by line index."""
    lines = [{"custom_id": f"line-{i}", "method": "POST", "url": endpoint, "body": b} for i, b in enumerate(bodies)]
    batch = start_batch(client, lines, endpoint=endpoint)
    server.advance(60)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed", batch.errors
    out: dict[str, Any] = {"errors": {}, "status": {}, "sizes": {}}
    for file_id in (batch.output_file_id, batch.error_file_id):
        raw = client.files.content(file_id).content if file_id else b""
        for line in raw.splitlines():
            row = json.loads(line)
            i = int(row["custom_id"].split("-")[1])
            out["status"][i] = row["response"]["status_code"]
            out["sizes"][i] = len(line)
            if row["response"]["status_code"] != 200:
                out["errors"][i] = row["response"]["body"]["error"]
    assert batch.request_counts is not None
    assert batch.request_counts.failed == len(out["errors"])
    return out


def test_moderations_200000_inputs_line_is_refused_small(server, client: openai.OpenAI) -> None:
    model = "omni-moderation-latest"
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    got = run(server, client, catalog.MODERATIONS, [
        {"model": model, "input": ["a"] * 200_000},
        {"model": model, "input": ["a"] * 2048},
        {"model": model, "input": [image, image, {"type": "text", "text": "hi"}]},
        {"model": model, "input": [image, {"type": "text", "text": "hi"}]},
    ])
    assert got["errors"] == {
        0: array_error("input", 2048, 200_000),
        2: {"message": "Number of images (2) exceeds maximum of 1", "type": "invalid_request_error",
            "param": "input", "code": "too_many_images"},
    }
    assert got["sizes"][0] < 1000  # the refused line's whole output: a few hundred bytes, not 224 MB
    assert got["status"][1] == got["status"][3] == 200 and got["sizes"][1] < 3_000_000  # 2,048 results


def test_refusing_the_moderations_line_needs_no_memory() -> None:
    """What the line costs the writer beyond its parsed body: well under a megabyte (once 1.39 GB)."""
    body = {"model": "omni-moderation-latest", "input": ["a"] * 200_000}
    ctx = LineContext(7, "big", body, 1_750_000_000, DEFAULT["omni-moderation-latest"])
    tracemalloc.start()
    try:
        result = GENERATORS[catalog.MODERATIONS](body, ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status_code == 400 and peak < 1_000_000


def test_embeddings_limits(server, client: openai.OpenAI) -> None:
    model = "text-embedding-3-small"
    got = run(server, client, catalog.EMBEDDINGS, [
        {"model": model, "input": ["a"] * 2049, "dimensions": 1},
        {"model": model, "input": ["a"] * 2048, "dimensions": 1},
        {"model": model, "input": ["ok", "x" * (4 * 8192 + 1)], "dimensions": 1},
        {"model": model, "input": list(range(8192)), "dimensions": 1},  # one token array: one input, at the limit
        {"model": model, "input": [list(range(8000))] * 38, "dimensions": 1},
    ])
    assert got["errors"] == {
        0: array_error("input", 2048, 2049),
        2: {"message": "Invalid 'input': maximum context length is 8192 tokens.", "type": "invalid_request_error",
            "param": None, "code": None},
        4: {"message": "Requested 304000 tokens, max 300000 tokens per request", "type": "max_tokens_per_request",
            "param": None, "code": "max_tokens_per_request"},
    }
    assert got["status"][1] == got["status"][3] == 200


def test_completions_limits(server, client: openai.OpenAI) -> None:
    model = "gpt-3.5-turbo-instruct"
    got = run(server, client, catalog.COMPLETIONS, [
        {"model": model, "prompt": ["a"] * 2049},
        {"model": model, "prompt": ["a"] * 17, "n": 128},
        {"model": model, "prompt": ["a"] * 16, "n": 128},
        {"model": model, "prompt": "x" * (4 * 4000), "max_tokens": 200},
        {"model": model, "prompt": "hi", "stop": ["a", "b", "c", "d", "e"]},
    ])
    assert got["errors"] == {
        0: array_error("prompt", 2048, 2049),
        1: {"message": "Invalid 'n': 128 choices for each of 17 prompts make 2176; at most 2048 choices are allowed "
                       "in one request.", "type": "invalid_request_error", "param": "n", "code": "invalid_value"},
        3: {"message": "This model's maximum context length is 4096 tokens, however you requested 4200 tokens (4000 "
                       "in your prompt; 200 for the completion). Please reduce your prompt; or completion length.",
            "type": "invalid_request_error", "param": None, "code": None},
        4: array_error("stop", 4, 5),
    }
    assert got["status"][2] == 200


# A tiny schema whose instance, uncapped, was 20,000 strings of 10,000 characters (200 MB) per choice.
HUGE = {"type": "array", "minItems": 1000,
        "items": {"type": "array", "minItems": 1000, "items": {"type": "string", "minLength": 10000}}}


def test_chat_limits_and_bounded_output(server, client: openai.OpenAI) -> None:
    model = "gpt-4o-mini"
    messages = [{"role": "user", "content": "hi"}]
    fmt = {"type": "json_schema", "json_schema": {"name": "huge", "schema": HUGE}}
    tool = {"type": "function", "function": {"name": "f" * 65, "parameters": {"type": "object"}}}
    got = run(server, client, catalog.CHAT, [
        {"model": model, "messages": messages, "stop": ["a", "b", "c", "d", "e"]},
        {"model": model, "messages": messages, "tools": [tool]},
        {"model": model, "messages": messages, "safety_identifier": "s" * 65},
        {"model": model, "messages": messages, "tools": [{**tool, "function": {"name": "f"}}] * 129},
        {"model": model, "messages": messages, "response_format": fmt, "n": 3},
    ])
    assert got["errors"] == {
        0: array_error("stop", 4, 5),
        1: string_error("tools[0].function.name", 64, 65),
        2: string_error("safety_identifier", 64, 65),
        3: array_error("tools", 128, 129),
    }
    # The schema line is written, cut at the line's output budget: a few hundred kilobytes, not 600 MB.
    assert got["status"][4] == 200 and got["sizes"][4] < 8 * LINE_OUTPUT_TOKENS


def test_chat_output_budget_cuts_with_length(server, client: openai.OpenAI) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "huge", "schema": HUGE}}
    lines = [{"custom_id": "big", "method": "POST", "url": catalog.CHAT,
              "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                       "response_format": fmt, "n": 2}}]
    batch = start_batch(client, lines)
    server.advance(60)
    batch = client.batches.retrieve(batch.id)
    body = json.loads(client.files.content(batch.output_file_id).content)["response"]["body"]
    first, second = body["choices"]
    assert first["finish_reason"] == second["finish_reason"] == "length"
    assert len(first["message"]["content"]) == 4 * LINE_OUTPUT_TOKENS and second["message"]["content"] == ""
    assert body["usage"]["completion_tokens"] == LINE_OUTPUT_TOKENS


def test_schema_instance_is_capped() -> None:
    text = json.dumps(schema.instance(HUGE, random.Random(1)))
    assert 4 * LINE_OUTPUT_TOKENS < len(text) < 5 * LINE_OUTPUT_TOKENS
    big_const = {"type": "array", "minItems": 1000, "items": {"const": "c" * 10_000}}  # copies of the schema's own
    assert len(json.dumps(schema.instance(big_const, random.Random(1)))) < 5 * LINE_OUTPUT_TOKENS


def test_responses_limits_and_bounded_output(server, client: openai.OpenAI) -> None:
    model = "gpt-4o-mini"
    got = run(server, client, catalog.RESPONSES, [
        {"model": model, "input": "hi", "tools": [{"type": "function", "name": "f" * 65}]},
        {"model": model, "input": "hi", "safety_identifier": "s" * 65},
        {"model": model, "input": "hi", "prompt": {"id": "pmpt_1", "variables": {"v": "word " * 40_000}}},
    ])
    assert got["errors"] == {
        0: string_error("tools[0].name", 64, 65),
        1: string_error("safety_identifier", 64, 65),
    }
    assert got["status"][2] == 200


def test_responses_output_budget_makes_incomplete(server, client: openai.OpenAI) -> None:
    lines = [{"custom_id": "big", "method": "POST", "url": catalog.RESPONSES,
              "body": {"model": "gpt-4o-mini", "input": "hi",
                       "prompt": {"id": "pmpt_1", "variables": {"v": "word " * 40_000}}}}]
    batch = start_batch(client, lines, endpoint=catalog.RESPONSES)
    server.advance(60)
    batch = client.batches.retrieve(batch.id)
    body = json.loads(client.files.content(batch.output_file_id).content)["response"]["body"]
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
    assert len(body["output"][0]["content"][0]["text"]) == 4 * LINE_OUTPUT_TOKENS


@pytest.mark.parametrize("endpoint", [catalog.IMAGES_GENERATIONS, catalog.IMAGES_EDITS])
def test_images_limits(server, client: openai.OpenAI, endpoint: str) -> None:
    got = run(server, client, endpoint, [
        {"model": "gpt-image-1", "prompt": "p" * 32_001},
        {"model": "gpt-image-1", "prompt": "a cat", "size": "100000x100000"},
        {"model": "gpt-image-1", "prompt": "a cat", "images": [{"file_id": "file-1"}] * 17},
        {"model": "gpt-image-1", "prompt": "a cat", "size": "3840x2160"},
    ])
    assert got["errors"] == {
        0: string_error("prompt", 32_000, 32_001),
        1: {"message": "Invalid value: '100000x100000'. Supported values are: '1024x1024', '1024x1536', '1536x1024', "
                       "and 'auto'.", "type": "invalid_request_error", "param": "size", "code": "invalid_value"},
        2: array_error("images", 16, 17),
    }
    assert got["status"][3] == 200
    got = run(server, client, endpoint, [  # a batch has one model
        {"model": "dall-e-2", "prompt": "p" * 1001},
        {"model": "dall-e-2", "prompt": "a cat", "size": "4096x4096"},
        {"model": "dall-e-2", "prompt": "p" * 1000},
    ])
    assert got["errors"] == {
        0: string_error("prompt", 1000, 1001),
        1: {"message": "Invalid value: '4096x4096'. Supported values are: '256x256', '512x512', and '1024x1024'.",
            "type": "invalid_request_error", "param": "size", "code": "invalid_value"},
    }
    assert got["status"][2] == 200


def test_videos_prompt_limit(server, client: openai.OpenAI) -> None:
    got = run(server, client, catalog.VIDEOS, [
        {"model": "sora-2", "prompt": "p" * 32_001},
        {"model": "sora-2", "prompt": "p" * 32_000},
    ])
    assert got["errors"] == {0: string_error("prompt", 32_000, 32_001)}
    assert got["status"][1] == 200
