"""One batch per endpoint through a real server and the official SDK: every output line's body parses
with the SDK's response type for that endpoint, follows its request, and the batch's usage is the sum
of its lines' usage."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from mockbatch import catalog
from tests.helpers import read_jsonl, start_batch
from tests.test_generators import (
    PERSON,
    RESPONSES_TOOLS,
    TOOL_SCHEMAS,
    TYPES,
    WEATHER,
    assert_required,
    png_info,
    sdk_view,
    validate,
)

PERSON_FORMAT = {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": PERSON}}


@dataclass
class EndpointBatch:
    endpoint: str
    bodies: list[dict[str, Any]]
    failing: set[int] = field(default_factory=set)  # indices of lines the endpoint answers with a 400


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about tides."}], **extra}


def resp(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-5-mini", "input": "Tell me about tides.", **extra}


BATCHES = [
    EndpointBatch(catalog.CHAT, [
        chat(), chat(n=2, max_tokens=7), chat(response_format=PERSON_FORMAT),
        chat(tools=[WEATHER], tool_choice="required"), chat(logprobs=True, top_logprobs=2),
    ]),
    EndpointBatch(catalog.RESPONSES, [
        resp(), resp(instructions="Be brief.", input=[{"role": "user", "content": "Hi"}]),
        resp(text={"format": {"type": "json_schema", "name": "person", "strict": True, "schema": PERSON}}),
        resp(tools=RESPONSES_TOOLS, tool_choice={"type": "function", "name": "get_weather"}),
        resp(max_output_tokens=20, reasoning={"effort": "low", "summary": "auto"}),
        resp(prompt={"id": "pmpt_123", "version": "3", "variables": {"city": "Reykjavik"}}),
        resp(max_output_tokens=4),
    ], failing={6}),
    EndpointBatch(catalog.EMBEDDINGS, [
        {"model": "text-embedding-3-small", "input": "tides"},
        {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 64, "encoding_format": "base64"},
    ]),
    EndpointBatch(catalog.COMPLETIONS, [
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Tides are"},
        {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"], "n": 2, "logprobs": 2, "max_tokens": 50},
    ]),
    EndpointBatch(catalog.MODERATIONS, [
        {"model": "omni-moderation-latest", "input": "A calm sea."},
        {"model": "omni-moderation-latest", "input": ["fine", "please flagme"]},
    ]),
    EndpointBatch(catalog.IMAGES_GENERATIONS, [
        {"model": "gpt-image-1", "prompt": "A lighthouse"},
        {"model": "gpt-image-1", "prompt": "A lighthouse", "n": 2, "size": "1024x1536", "quality": "low",
         "background": "transparent"},
    ]),
    EndpointBatch(catalog.IMAGES_EDITS, [
        {"model": "gpt-image-1", "prompt": "Add a boat", "images": [{"file_id": "file-abc"}]},
        {"model": "gpt-image-1", "prompt": "Add fog", "images": [{"image_url": "https://example.com/a.png"}],
         "quality": "medium"},
    ]),
    EndpointBatch(catalog.VIDEOS, [
        {"model": "sora-2", "prompt": "Waves at dusk", "seconds": "8", "size": "1280x720"},
        {"model": "sora-2", "prompt": "flagme waves"},
    ]),
]


def line(endpoint: str, i: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": f"line-{i}", "method": "POST", "url": endpoint, "body": body}


def line_usage(endpoint: str, body: dict[str, Any]) -> tuple[int, int, int]:
    """(input, output, reasoning) tokens a line is charged."""
    usage = body.get("usage")
    if usage is None or endpoint in (catalog.MODERATIONS, catalog.VIDEOS):
        return 0, 0, 0
    if endpoint in (catalog.CHAT, catalog.COMPLETIONS):
        details = usage.get("completion_tokens_details") or {}
        return usage["prompt_tokens"], usage["completion_tokens"], details.get("reasoning_tokens", 0)
    if endpoint == catalog.EMBEDDINGS:
        return usage["prompt_tokens"], 0, 0
    details = usage.get("output_tokens_details") or {}
    return usage["input_tokens"], usage["output_tokens"], details.get("reasoning_tokens", 0)


def check_line(endpoint: str, request: dict[str, Any], body: dict[str, Any]) -> None:
    """What each endpoint's answer must show of its request."""
    if endpoint == catalog.CHAT:
        first = body["choices"][0]
        assert len(body["choices"]) == request.get("n", 1)
        if "response_format" in request:
            validate(json.loads(first["message"]["content"]), PERSON)
        if "tools" in request:
            (call,) = first["message"]["tool_calls"]
            validate(json.loads(call["function"]["arguments"]), TOOL_SCHEMAS["get_weather"])
            assert first["finish_reason"] == "tool_calls"
        if "max_tokens" in request:
            assert {c["finish_reason"] for c in body["choices"]} == {"length"}
        if request.get("logprobs"):
            assert "".join(t["token"] for t in first["logprobs"]["content"]) == first["message"]["content"]
    elif endpoint == catalog.RESPONSES:
        kinds = [item["type"] for item in body["output"]]
        assert kinds[0] == "reasoning" and body["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
        if "text" in request:
            validate(json.loads(body["output"][-1]["content"][0]["text"]), PERSON)
        if "tools" in request:
            assert kinds[1:] == ["function_call"] and body["output"][1]["name"] == "get_weather"
            validate(json.loads(body["output"][1]["arguments"]), TOOL_SCHEMAS["get_weather"])
        if "max_output_tokens" in request:
            assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
        else:
            assert body["status"] == "completed"
        if "prompt" in request:
            assert "Reykjavik" in body["output"][-1]["content"][0]["text"]
            assert body["prompt"]["id"] == "pmpt_123"
        if "instructions" in request:
            assert body["instructions"] == "Be brief."
    elif endpoint == catalog.EMBEDDINGS:
        assert len(body["data"]) == (2 if isinstance(request["input"], list) else 1)
    elif endpoint == catalog.COMPLETIONS:
        assert len(body["choices"]) == request.get("n", 1) * (len(request["prompt"]) if isinstance(
            request["prompt"], list) else 1)
    elif endpoint == catalog.MODERATIONS:
        flags = [r["flagged"] for r in body["results"]]
        assert flags == ([False, True] if isinstance(request["input"], list) else [False])
    elif endpoint in (catalog.IMAGES_GENERATIONS, catalog.IMAGES_EDITS):
        assert len(body["data"]) == request.get("n", 1)
        width, height = (int(v) // 32 for v in request.get("size", "1024x1024").split("x"))
        assert {png_info(d["b64_json"])[:2] for d in body["data"]} == {(width, height)}
        assert body["quality"] == request.get("quality", "high")
    elif endpoint == catalog.VIDEOS:
        assert body["status"] == ("failed" if "flagme" in request["prompt"] else "completed")
        assert body["seconds"] == request.get("seconds", "4") and body["size"] == request.get("size", "720x1280")


@pytest.mark.parametrize("spec", BATCHES, ids=[b.endpoint for b in BATCHES])
def test_endpoint_batch(server, client: openai.OpenAI, spec: EndpointBatch) -> None:
    lines = [line(spec.endpoint, i, body) for i, body in enumerate(spec.bodies)]
    batch = start_batch(client, lines, endpoint=spec.endpoint)
    server.advance(60)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed", batch.errors
    succeeded = len(lines) - len(spec.failing)
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (
        len(lines), succeeded, len(spec.failing))

    output = read_jsonl(client, batch.output_file_id)
    assert sorted(o["custom_id"] for o in output) == sorted(
        f"line-{i}" for i in range(len(lines)) if i not in spec.failing)
    totals = [0, 0, 0]
    model_type = TYPES[spec.endpoint]
    for out in output:
        assert out["error"] is None and out["response"]["status_code"] == 200
        body = out["response"]["body"]
        request = spec.bodies[int(out["custom_id"].split("-")[1])]
        parsed = model_type.model_validate(sdk_view(spec.endpoint, json.loads(json.dumps(body))))
        assert_required(parsed, sdk_view(spec.endpoint, json.loads(json.dumps(body))))
        check_line(spec.endpoint, request, body)
        for k, v in enumerate(line_usage(spec.endpoint, body)):
            totals[k] += v
    usage = batch.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.output_tokens_details.reasoning_tokens) == tuple(totals)
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens

    errors = read_jsonl(client, batch.error_file_id)
    assert sorted(e["custom_id"] for e in errors) == sorted(f"line-{i}" for i in spec.failing)
    for err in errors:
        assert err["error"] is None and err["response"]["status_code"] == 400
        error = err["response"]["body"]["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"


def test_same_batch_same_bytes(server_factory) -> None:
    """Two servers with the same seed write identical output files for the same input."""
    outputs = []
    for _ in range(2):
        server = server_factory()
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        spec = BATCHES[1]
        batch = start_batch(client, [line(spec.endpoint, i, b) for i, b in enumerate(spec.bodies)],
                            endpoint=spec.endpoint)
        server.advance(60)
        batch = client.batches.retrieve(batch.id)
        outputs.append(client.files.content(batch.output_file_id).content)
    assert outputs[0] == outputs[1]
