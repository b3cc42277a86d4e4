"""Generated response bodies, called directly: every request variant parses with the official SDK's
type for its endpoint with no required field missing, follows the request, is deterministic and
reports consistent usage. Structured outputs and tool arguments are checked with a JSON Schema validator."""

from __future__ import annotations

import base64
import importlib
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import pydantic
import pytest
from openai.types import Completion, CreateEmbeddingResponse, ImagesResponse, ModerationCreateResponse, Video
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from mockbatch import catalog
from mockbatch.generators import GENERATORS, Generated, LineContext, base, moderations
from mockbatch.generators import schema as schema_gen
from mockbatch.generators.base import IMAGE_TOKENS, IMAGE_TOKENS_LOW, REASONING_EFFORT, estimate_tokens

SEED = 7
CREATED = 1_750_000_000
RUNS = 6  # custom ids per variant, so seeded branches (tool or no tool, optional fields...) are all taken

TYPES: dict[str, type[pydantic.BaseModel]] = {
    catalog.CHAT: ChatCompletion,
    catalog.RESPONSES: Response,
    catalog.EMBEDDINGS: CreateEmbeddingResponse,
    catalog.COMPLETIONS: Completion,
    catalog.MODERATIONS: ModerationCreateResponse,
    catalog.IMAGES_GENERATIONS: ImagesResponse,
    catalog.IMAGES_EDITS: ImagesResponse,
    catalog.VIDEOS: Video,
}


def generate(endpoint: str, body: dict[str, Any], custom_id: str = "request-1") -> Generated:
    model = catalog.DEFAULT.lookup(body["model"], endpoint)
    assert model is not None, body["model"]
    return GENERATORS[endpoint](body, LineContext(SEED, custom_id, body, CREATED, model))


def assert_required(obj: Any, raw: Any, path: str = "body") -> None:
    """Every field an SDK model requires is on the wire, at every level."""
    if isinstance(obj, pydantic.BaseModel):
        assert isinstance(raw, dict), path
        for name, field in type(obj).model_fields.items():
            key = field.alias or name
            if field.is_required():
                assert key in raw, f"{path}.{key} is required by {type(obj).__name__} but missing"
            if key in raw:
                assert_required(getattr(obj, name), raw[key], f"{path}.{key}")
    elif isinstance(obj, list) and isinstance(raw, list):
        assert len(obj) == len(raw)
        for i, (o, r) in enumerate(zip(obj, raw, strict=True)):
            assert_required(o, r, f"{path}[{i}]")
    elif isinstance(obj, dict) and isinstance(raw, dict):
        for key, value in obj.items():
            if key in raw:
                assert_required(value, raw[key], f"{path}.{key}")


def sdk_view(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """A base64 embedding is a string on the wire; the SDK decodes it to floats before building its type."""
    if endpoint == catalog.EMBEDDINGS:
        for item in body["data"]:
            if isinstance(item["embedding"], str):
                raw = base64.b64decode(item["embedding"])
                item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return body


def parse(endpoint: str, result: Generated) -> Any:
    body = json.loads(json.dumps(result.body))  # exactly what goes on the wire
    model = TYPES[endpoint]
    body = sdk_view(endpoint, body)
    parsed = model.model_validate(body)
    assert_required(parsed, body)
    return parsed


_validators: dict[str, Any] = {}


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate with the schema's own draft (2020-12 by default), formats included."""
    key = json.dumps(schema, sort_keys=True)
    validator = _validators.get(key)
    if validator is None:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        validator = _validators[key] = cls(schema, format_checker=cls.FORMAT_CHECKER)
    validator.validate(instance)


def check_usage(endpoint: str, result: Generated) -> None:
    """Usage in the body adds up, and matches what the batch is charged."""
    body, usage = result.body, result.usage
    if result.status_code != 200:
        assert usage.input == usage.output == 0
        return
    if endpoint in (catalog.CHAT, catalog.COMPLETIONS):
        u = body["usage"]
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
        assert (usage.input, usage.output) == (u["prompt_tokens"], u["completion_tokens"])
        reasoning = u.get("completion_tokens_details", {}).get("reasoning_tokens", 0)
        assert usage.reasoning == reasoning <= u["completion_tokens"]
    elif endpoint in (catalog.RESPONSES, catalog.IMAGES_GENERATIONS, catalog.IMAGES_EDITS) and "usage" in body:
        u = body["usage"]
        assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
        assert (usage.input, usage.output) == (u["input_tokens"], u["output_tokens"])
        if endpoint == catalog.RESPONSES:
            assert usage.reasoning == u["output_tokens_details"]["reasoning_tokens"] <= u["output_tokens"]
        else:
            details = u["input_tokens_details"]
            assert details["text_tokens"] + details["image_tokens"] == u["input_tokens"]
    elif endpoint == catalog.EMBEDDINGS:
        u = body["usage"]
        assert u["total_tokens"] == u["prompt_tokens"] == usage.input and usage.output == 0
    else:
        assert usage.input == usage.output == 0


# -- the variant table ---------------------------------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": "string", "format": "email"},
        "homepage": {"type": "string", "format": "uri"},
        "id": {"type": "string", "format": "uuid"},
        "born": {"type": "string", "format": "date"},
        "updated": {"type": "string", "format": "date-time"},
        "role": {"type": "string", "enum": ["admin", "editor", "viewer"]},
        "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 4,
                 "uniqueItems": True},
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                           "country": {"type": "string", "minLength": 2, "maxLength": 2}},
            "required": ["street", "zip", "country"],
            "additionalProperties": False,
        },
        "active": {"type": "boolean"},
    },
    "required": ["name", "age", "email", "id", "role", "tags", "address"],
    "additionalProperties": False,
}

# Strict mode: every property required, optional values as anyOf-null, shared parts in $defs.
STRICT = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "kind": {"const": "report"},
        "priority": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 5}, {"type": "null"}]},
        "owner": {"$ref": "#/$defs/person"},
        "reviewers": {"type": "array", "items": {"$ref": "#/$defs/person"}},
        "due": {"type": ["string", "null"], "format": "date-time"},
        "outline": {"$ref": "#/$defs/section"},
    },
    "required": ["title", "kind", "priority", "owner", "reviewers", "due", "outline"],
    "additionalProperties": False,
    "$defs": {
        "person": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
            "required": ["name", "email"],
            "additionalProperties": False,
        },
        "section": {  # recursive
            "type": "object",
            "properties": {"heading": {"type": "string"},
                           "subsections": {"type": "array", "items": {"$ref": "#/$defs/section"}}},
            "required": ["heading", "subsections"],
            "additionalProperties": False,
        },
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "person": PERSON,
    "strict": STRICT,
    "formats": {
        "type": "object",
        "properties": {f: {"type": "string", "format": f} for f in (
            "date-time", "date", "time", "email", "uri", "uuid", "hostname", "ipv4", "ipv6", "duration",
            "uri-reference", "json-pointer", "iri")},
        "required": ["date-time", "date", "time", "email", "uri", "uuid", "hostname", "ipv4", "ipv6", "duration",
                     "uri-reference", "json-pointer", "iri"],
        "additionalProperties": False,
    },
    "numbers": {
        "type": "object",
        "properties": {
            "tenth": {"type": "number", "multipleOf": 0.1, "minimum": 0, "maximum": 10},
            "cent": {"type": "number", "multipleOf": 0.01, "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "sevens": {"type": "integer", "multipleOf": 7, "minimum": -50, "maximum": 50},
            "negative": {"type": "integer", "maximum": -10},
            "big": {"type": "number", "minimum": 1e6},
            "exact": {"type": "integer", "minimum": 3, "maximum": 3},
        },
        "required": ["tenth", "cent", "sevens", "negative", "big", "exact"],
    },
    "patterns": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
            "phone": {"type": "string", "pattern": "^\\+?[1-9]\\d{1,14}$"},
            "slug": {"type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$"},
            "alt": {"type": "string", "pattern": "^(foo|bar)+$"},
            "not_digits": {"type": "string", "pattern": "^[^0-9]{2,5}$"},
        },
        "required": ["code", "phone", "slug", "alt", "not_digits"],
    },
    "linked_list": {  # recursion through the root
        "type": "object",
        "properties": {"value": {"type": "string"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["value", "next"],
        "additionalProperties": False,
    },
    "tuple": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}, {"const": "end"}],
              "items": False, "minItems": 3},
    "map": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2, "maxProperties": 4},
    "unique_small": {"type": "array", "items": {"enum": [1, 2, 3, 4]}, "minItems": 4, "maxItems": 4,
                     "uniqueItems": True},
    "all_of": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                         {"properties": {"b": {"type": "integer", "minimum": 5}}, "required": ["b"]}]},
    "one_of": {"type": "object", "required": ["v"],
               "properties": {"v": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "boolean"}]}}},
    "lengths": {"type": "object", "properties": {"long": {"type": "string", "minLength": 30, "maxLength": 35},
                                                 "tiny": {"type": "string", "maxLength": 2}},
                "required": ["long", "tiny"]},
    "draft7_definitions": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"color": {"type": "string", "enum": ["red", "green"]}},
        "type": "object",
        "properties": {"colors": {"type": "array", "items": {"$ref": "#/definitions/color"}, "minItems": 2}},
        "required": ["colors"],
    },
    "draft4_exclusive": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 3,
                             "exclusiveMaximum": True}},
        "required": ["n"],
    },
    "nested_arrays": {"type": "object", "properties": {"grid": {"type": "array", "minItems": 2, "items": {
        "type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": -1, "maximum": 1}}}},
        "required": ["grid"], "additionalProperties": False},
}


def chat_body(model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "system", "content": "You are terse."},
                                         {"role": "user", "content": "Write about the sea."}], **extra}


def responses_body(model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "input": "Write about the sea.", **extra}


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "unit"], "additionalProperties": False}, "strict": True}}
BOOK = {"type": "function", "function": {"name": "book_flight", "parameters": STRICT}}
NO_PARAMS = {"type": "function", "function": {"name": "ping"}}
CHAT_TOOLS = [WEATHER, BOOK, NO_PARAMS]
RESPONSES_TOOLS = [{"type": "function", **t["function"]} for t in CHAT_TOOLS]
TOOL_SCHEMAS = {t["function"]["name"]: t["function"].get("parameters", {"type": "object"}) for t in CHAT_TOOLS}


@dataclass
class Case:
    name: str
    endpoint: str
    body: dict[str, Any]
    check: Callable[[dict[str, Any], Generated], None] | None = None
    status: int = 200


def msg(body: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return body["choices"][i]["message"]


def check_plain_chat(body: dict[str, Any], result: Generated) -> None:
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) == len("chatcmpl-") + 29
    assert body["created"] == CREATED
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert msg(body)["content"] and msg(body)["refusal"] is None and "tool_calls" not in msg(body)
    assert body["usage"]["completion_tokens"] == estimate_tokens(msg(body)["content"])
    assert body["usage"]["prompt_tokens"] == 3 + (4 + estimate_tokens("You are terse.")) + (
        4 + estimate_tokens("Write about the sea."))


def check_n(body: dict[str, Any], result: Generated) -> None:
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert len({c["message"]["content"] for c in body["choices"]}) == 3
    assert body["usage"]["completion_tokens"] == sum(estimate_tokens(c["message"]["content"]) for c in body["choices"])


def check_cut(limit: int) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        for choice in body["choices"]:
            assert choice["finish_reason"] == "length"
            assert len(choice["message"]["content"]) == limit * 4
        assert body["usage"]["completion_tokens"] == limit * len(body["choices"])
    return check


def check_json_object(body: dict[str, Any], result: Generated) -> None:
    assert isinstance(json.loads(msg(body)["content"]), dict)


def check_chat_schema(schema: dict[str, Any]) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        validate(json.loads(msg(body)["content"]), schema)
        assert body["choices"][0]["finish_reason"] == "stop"
    return check


def check_tool_calls(required: bool, only: str | None = None) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        message = msg(body)
        calls = message.get("tool_calls") or []
        if required:
            assert calls
        if not calls:
            assert body["choices"][0]["finish_reason"] == "stop" and message["content"]
            return
        assert body["choices"][0]["finish_reason"] == "tool_calls" and message["content"] is None
        assert len({c["id"] for c in calls}) == len(calls)
        for call in calls:
            assert call["type"] == "function" and call["id"].startswith("call_")
            if only:
                assert call["function"]["name"] == only
            validate(json.loads(call["function"]["arguments"]), TOOL_SCHEMAS[call["function"]["name"]])
        assert body["usage"]["completion_tokens"] == sum(
            estimate_tokens(c["function"]["name"]) + estimate_tokens(c["function"]["arguments"]) for c in calls)
    return check


def check_no_tools(body: dict[str, Any], result: Generated) -> None:
    assert "tool_calls" not in msg(body) and msg(body)["content"]
    assert body["choices"][0]["finish_reason"] == "stop"


def check_logprobs(top: int) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        entries = body["choices"][0]["logprobs"]["content"]
        assert "".join(e["token"] for e in entries) == msg(body)["content"]
        assert len(entries) == body["usage"]["completion_tokens"]
        for e in entries:
            assert e["logprob"] <= 0 and bytes(e["bytes"]) == e["token"].encode()
            assert len(e["top_logprobs"]) == top
            if top:
                assert e["top_logprobs"][0]["token"] == e["token"]
                values = [t["logprob"] for t in e["top_logprobs"]]
                assert values == sorted(values, reverse=True)
    return check


def check_reasoning(effort: str) -> Callable[[dict[str, Any], Generated], None]:
    low, high = REASONING_EFFORT[effort]

    def check(body: dict[str, Any], result: Generated) -> None:
        usage = body["usage"]
        reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        assert low <= reasoning <= high and reasoning > 0
        assert usage["completion_tokens"] == reasoning + estimate_tokens(msg(body)["content"])
    return check


def check_reasoning_starved(body: dict[str, Any], result: Generated) -> None:
    assert msg(body)["content"] == "" and body["choices"][0]["finish_reason"] == "length"
    usage = body["usage"]
    assert usage["completion_tokens"] == usage["completion_tokens_details"]["reasoning_tokens"] == 50


def check_error(message: str, param: str, code: str) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        assert body == {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return check


def check_stop(body: dict[str, Any], result: Generated) -> None:
    content = msg(body)["content"]
    assert "." not in content and body["choices"][0]["finish_reason"] == "stop"


def check_images_in_prompt(body: dict[str, Any], result: Generated) -> None:
    text = estimate_tokens("What is in these pictures?")
    assert body["usage"]["prompt_tokens"] == 3 + 4 + text + IMAGE_TOKENS + IMAGE_TOKENS_LOW


def check_legacy_function(body: dict[str, Any], result: Generated) -> None:
    message = msg(body)
    assert body["choices"][0]["finish_reason"] == "function_call"
    assert message["function_call"]["name"] == "get_weather" and "tool_calls" not in message
    validate(json.loads(message["function_call"]["arguments"]), TOOL_SCHEMAS["get_weather"])


def check_custom_tool(body: dict[str, Any], result: Generated) -> None:
    (call,) = msg(body)["tool_calls"]
    assert call["type"] == "custom" and call["custom"]["name"] == "sql" and call["custom"]["input"]


def check_tool_args_cut(body: dict[str, Any], result: Generated) -> None:
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 6


def check_service_tier(body: dict[str, Any], result: Generated) -> None:
    assert body["service_tier"] == "flex"


# Responses --------------------------------------------------------------------------------------

OBSERVED_KEYS = {  # the observed batch line body (contract 9.2) plus completed_at from the 2026 spec
    "id", "object", "created_at", "status", "background", "billing", "completed_at", "error", "incomplete_details",
    "instructions", "max_output_tokens", "max_tool_calls", "model", "output", "parallel_tool_calls",
    "previous_response_id", "prompt_cache_key", "prompt_cache_retention", "reasoning", "safety_identifier",
    "service_tier", "store", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
    "usage", "user", "metadata",
}


def output_text(body: dict[str, Any]) -> str:
    (message,) = [item for item in body["output"] if item["type"] == "message"]
    (part,) = message["content"]
    return part["text"]


def check_plain_response(body: dict[str, Any], result: Generated) -> None:
    assert set(body) == OBSERVED_KEYS
    assert body["object"] == "response" and body["status"] == "completed" and body["error"] is None
    assert body["id"].startswith("resp_") and len(body["id"]) == 5 + 50
    (message,) = body["output"]
    assert message["id"].startswith("msg_") and len(message["id"]) == 4 + 50
    assert message["id"][4:30] == body["id"][5:31]  # items share the response's id prefix and time
    assert int(body["id"][23:31], 16) == CREATED
    assert message == {"id": message["id"], "type": "message", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                                    "text": message["content"][0]["text"]}]}
    assert body["completed_at"] == body["created_at"] == CREATED
    assert body["billing"] == {"payer": "developer"} and body["background"] is False
    assert body["reasoning"] == {"effort": None, "summary": None}
    assert body["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    assert (body["tool_choice"], body["tools"], body["metadata"], body["store"]) == ("auto", [], {}, True)
    assert (body["temperature"], body["top_p"], body["top_logprobs"], body["truncation"]) == (1.0, 1.0, 0, "disabled")
    assert body["usage"]["input_tokens"] == 3 + 4 + estimate_tokens("Write about the sea.")
    assert body["usage"]["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert body["usage"]["output_tokens"] == estimate_tokens(output_text(body))


def check_response_items_input(body: dict[str, Any], result: Generated) -> None:
    expected = 3 + (4 + estimate_tokens("Hi") + estimate_tokens("there")) + (4 + IMAGE_TOKENS_LOW) + (
        4 + estimate_tokens("get_weather") + estimate_tokens('{"city":"Oslo"}')) + (4 + estimate_tokens("rainy"))
    assert body["usage"]["input_tokens"] == expected + 4 + estimate_tokens("Be brief.")
    assert body["instructions"] == "Be brief."


def check_response_schema(schema: dict[str, Any]) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        validate(json.loads(output_text(body)), schema)
        fmt = body["text"]["format"]
        assert fmt["type"] == "json_schema" and fmt["schema"] == schema and fmt["name"] == "out"
    return check


def check_response_json_object(body: dict[str, Any], result: Generated) -> None:
    assert isinstance(json.loads(output_text(body)), dict)
    assert body["text"]["format"] == {"type": "json_object"}


def check_response_tools(required: bool, only: str | None = None) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        calls = [item for item in body["output"] if item["type"] == "function_call"]
        if required:
            assert calls and len(calls) == len(body["output"])
        for call in calls:
            assert call["id"].startswith("fc_") and call["call_id"].startswith("call_")
            assert call["status"] == "completed"
            if only:
                assert call["name"] == only
            validate(json.loads(call["arguments"]), TOOL_SCHEMAS[call["name"]])
        assert [t["name"] for t in body["tools"]] == ["get_weather", "book_flight", "ping"]
        assert all(t["type"] == "function" and t["strict"] in (True, False) for t in body["tools"])
    return check


def check_reasoning_then_calls(body: dict[str, Any], result: Generated) -> None:
    kinds = [item["type"] for item in body["output"]]
    assert kinds[0] == "reasoning" and set(kinds[1:]) == {"function_call"}
    assert {item["id"].split("_", 1)[1][:26] for item in body["output"]} == {body["id"][5:31]}
    visible = sum(estimate_tokens(i["name"]) + estimate_tokens(i["arguments"]) for i in body["output"][1:])
    usage = body["usage"]
    assert usage["output_tokens"] == visible + usage["output_tokens_details"]["reasoning_tokens"]


def check_response_reasoning(summary: bool) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        first = body["output"][0]
        assert first["type"] == "reasoning" and first["id"].startswith("rs_")
        assert bool(first["summary"]) == summary
        if summary:
            assert first["summary"][0]["type"] == "summary_text" and first["summary"][0]["text"]
        usage = body["usage"]
        reasoning = usage["output_tokens_details"]["reasoning_tokens"]
        assert reasoning > 0 and usage["output_tokens"] == reasoning + estimate_tokens(output_text(body))
        assert body["reasoning"]["effort"] in ("low", "medium", "high")
    return check


def check_incomplete(reasoning_only: bool) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
        assert body["completed_at"] is None
        assert body["usage"]["output_tokens"] == body["max_output_tokens"]
        if reasoning_only:
            assert [item["type"] for item in body["output"]] == ["reasoning"]
        else:
            (message,) = body["output"]
            assert message["status"] == "incomplete"
            assert len(message["content"][0]["text"]) == 4 * body["max_output_tokens"]
    return check


def check_prompt_variables(body: dict[str, Any], result: Generated) -> None:
    text = output_text(body)
    assert "Jane Doe" in text and "order 1234" in text
    assert body["prompt"] == {"id": "pmpt_abc123", "version": "2",
                              "variables": {"customer": "Jane Doe", "topic": {"type": "input_text",
                                                                              "text": "order 1234"}}}
    assert body["usage"]["input_tokens"] == 3 + 4 + estimate_tokens("Hello") + 16 + estimate_tokens(
        "Jane Doe") + estimate_tokens("order 1234")


def check_prompt_only(body: dict[str, Any], result: Generated) -> None:
    text = output_text(body)
    assert "Jane Doe" in text and "order 1234" in text
    assert body["prompt"] == {"id": "pmpt_abc123", "version": None,
                              "variables": {"customer": "Jane Doe", "topic": "order 1234"}}
    assert body["usage"]["input_tokens"] == 3 + 16 + estimate_tokens("Jane Doe") + estimate_tokens("order 1234")


def check_response_logprobs(body: dict[str, Any], result: Generated) -> None:
    (message,) = body["output"]
    part = message["content"][0]
    assert "".join(e["token"] for e in part["logprobs"]) == part["text"]
    assert all(len(e["top_logprobs"]) == 2 for e in part["logprobs"])


def check_response_echo(body: dict[str, Any], result: Generated) -> None:
    assert (body["temperature"], body["top_p"], body["store"], body["metadata"]) == (0.2, 0.5, False, {"k": "v"})
    assert (body["user"], body["safety_identifier"], body["prompt_cache_key"]) == ("u1", "s1", "c1")
    assert (body["parallel_tool_calls"], body["max_tool_calls"], body["service_tier"]) == (False, 1, "flex")
    assert body["text"]["verbosity"] == "low" and body["truncation"] == "auto"
    assert body["previous_response_id"] == "resp_prev"


# Other endpoints ----------------------------------------------------------------------------------

def check_completion(body: dict[str, Any], result: Generated) -> None:
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    (choice,) = body["choices"]
    assert choice["finish_reason"] in ("stop", "length") and choice["logprobs"] is None
    assert body["usage"]["completion_tokens"] == estimate_tokens(choice["text"]) <= 16
    assert body["usage"]["prompt_tokens"] == estimate_tokens("Once upon a time")


def check_completion_many(body: dict[str, Any], result: Generated) -> None:
    assert [c["index"] for c in body["choices"]] == list(range(6))
    assert body["usage"]["prompt_tokens"] == estimate_tokens("a b") + estimate_tokens("c") + 3


def check_completion_echo(body: dict[str, Any], result: Generated) -> None:
    (choice,) = body["choices"]
    assert choice["text"].startswith("Once upon a time ")
    lp = choice["logprobs"]
    assert "".join(lp["tokens"]) == choice["text"][len("Once upon a time"):]
    assert lp["text_offset"][0] == len("Once upon a time")
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"])
    assert all(len(t) == 3 for t in lp["top_logprobs"])


def check_completion_long(body: dict[str, Any], result: Generated) -> None:
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "stop" and body["usage"]["completion_tokens"] > 16


def check_moderation(flagged: bool) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        assert body["id"].startswith("modr-") and body["model"] == "omni-moderation-latest"
        (res,) = body["results"]
        assert len(res["categories"]) == len(res["category_scores"]) == 13
        assert res["flagged"] is flagged and any(res["categories"].values()) is flagged
        if flagged:
            top = max(res["category_scores"], key=res["category_scores"].get)
            assert res["categories"][top] and res["category_scores"][top] >= 0.85
        else:
            assert max(res["category_scores"].values()) < 0.01
        assert all(v == ["text"] for v in res["category_applied_input_types"].values())
    return check


def check_moderation_list(body: dict[str, Any], result: Generated) -> None:
    assert [r["flagged"] for r in body["results"]] == [False, True, False]


def check_moderation_image(body: dict[str, Any], result: Generated) -> None:
    (res,) = body["results"]
    applied = res["category_applied_input_types"]
    assert applied["violence"] == ["text", "image"] and applied["sexual"] == ["text", "image"]
    assert applied["hate"] == ["text"] and applied["illicit"] == ["text"]


def png_info(b64: str) -> tuple[int, int, int]:
    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        kind, data = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", raw[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = data
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {2: 3, 6: 4}[color]
    assert depth == 8 and len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + width * channels)
    assert b"IEND" in chunks
    return width, height, channels


def check_image(size: str, quality: str, n: int, channels: int = 3) -> Callable[[dict[str, Any], Generated], None]:
    width, height = (int(v) // 32 for v in size.split("x"))
    tokens = {("low", "1536x1024"): 400, ("high", "1024x1024"): 4160, ("medium", "1024x1536"): 1584}

    def check(body: dict[str, Any], result: Generated) -> None:
        assert body["created"] == CREATED and len(body["data"]) == n
        assert {png_info(d["b64_json"]) for d in body["data"]} == {(width, height, channels)}
        assert (body["size"], body["quality"], body["output_format"]) == (size, quality, "png")
        assert body["usage"]["output_tokens"] == tokens[quality, size] * n
        assert body["usage"]["output_tokens_details"] == {"text_tokens": 0, "image_tokens": tokens[quality, size] * n}
    return check


def check_edit(body: dict[str, Any], result: Generated) -> None:
    assert body["usage"]["input_tokens_details"] == {"text_tokens": estimate_tokens("Add a hat"),
                                                     "image_tokens": 2 * IMAGE_TOKENS}


def check_dalle(revised: bool) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        assert set(body) == {"created", "data"}
        (image,) = body["data"]
        assert png_info(image["b64_json"])[:2] == (32, 32)
        assert ("revised_prompt" in image) is revised
    return check


def check_video(size: str, seconds: str) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        assert body["id"].startswith("video_") and len(body["id"]) == 6 + 48
        assert (body["object"], body["status"], body["progress"]) == ("video", "completed", 100)
        assert body["model"] == "sora-2"
        assert (body["size"], body["seconds"], body["error"]) == (size, seconds, None)
        assert body["expires_at"] == body["completed_at"] + 86400
    return check


def check_video_failed(body: dict[str, Any], result: Generated) -> None:
    assert body["status"] == "failed" and body["error"]["code"] == "moderation_blocked"
    assert body["completed_at"] is None and body["expires_at"] is None


def check_embedding(dims: int, count: int, b64: bool = False) -> Callable[[dict[str, Any], Generated], None]:
    def check(body: dict[str, Any], result: Generated) -> None:
        assert [d["index"] for d in body["data"]] == list(range(count))
        for d in body["data"]:
            vec = struct.unpack(f"<{dims}f", base64.b64decode(d["embedding"])) if b64 else d["embedding"]
            assert len(vec) == dims and abs(sum(x * x for x in vec) - 1) < 1e-4
    return check


PERSON_CHAT = {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": PERSON}}
C, R, E = catalog.CHAT, catalog.RESPONSES, catalog.EMBEDDINGS
CASES = [
    # chat completions
    Case("chat-plain", C, chat_body(), check_plain_chat),
    Case("chat-n3", C, chat_body(n=3), check_n),
    Case("chat-max-tokens", C, chat_body(max_tokens=5, n=2), check_cut(5)),
    Case("chat-max-completion-tokens", C, chat_body(model="gpt-4.1", max_completion_tokens=3), check_cut(3)),
    Case("chat-json-object", C, chat_body(response_format={"type": "json_object"}), check_json_object),
    Case("chat-text-format", C, chat_body(response_format={"type": "text"}), check_plain_chat),
    *[Case(f"chat-schema-{name}", C, chat_body(response_format={"type": "json_schema", "json_schema": {
        "name": name, "strict": True, "schema": s}}), check_chat_schema(s)) for name, s in SCHEMAS.items()],
    Case("chat-tools-required", C, chat_body(tools=CHAT_TOOLS, tool_choice="required"), check_tool_calls(True)),
    Case("chat-tools-auto", C, chat_body(tools=CHAT_TOOLS), check_tool_calls(False)),
    Case("chat-tools-named", C, chat_body(tools=CHAT_TOOLS, tool_choice={
        "type": "function", "function": {"name": "book_flight"}}), check_tool_calls(True, "book_flight")),
    Case("chat-tools-none", C, chat_body(tools=CHAT_TOOLS, tool_choice="none"), check_no_tools),
    Case("chat-tools-serial", C, chat_body(tools=CHAT_TOOLS, tool_choice="required", parallel_tool_calls=False),
         check_tool_calls(True)),
    Case("chat-tools-allowed", C, chat_body(tools=CHAT_TOOLS, tool_choice={"type": "allowed_tools", "allowed_tools": {
        "mode": "required", "tools": [{"type": "function", "function": {"name": "ping"}}]}}),
         check_tool_calls(True, "ping")),
    Case("chat-tools-cut", C, chat_body(tools=[WEATHER], tool_choice="required", max_tokens=6), check_tool_args_cut),
    Case("chat-legacy-functions", C, chat_body(functions=[WEATHER["function"]], function_call={"name": "get_weather"}),
         check_legacy_function),
    Case("chat-custom-tool", C, chat_body(tools=[{"type": "custom", "custom": {"name": "sql"}}],
                                          tool_choice="required"), check_custom_tool),
    Case("chat-logprobs", C, chat_body(logprobs=True), check_logprobs(0)),
    Case("chat-top-logprobs", C, chat_body(logprobs=True, top_logprobs=3), check_logprobs(3)),
    Case("chat-reasoning-default", C, chat_body(model="gpt-5"), check_reasoning("medium")),
    Case("chat-reasoning-low", C, chat_body(model="o3", reasoning_effort="low"), check_reasoning("low")),
    Case("chat-reasoning-high", C, chat_body(model="o4-mini", reasoning_effort="high"), check_reasoning("high")),
    Case("chat-reasoning-starved", C, chat_body(model="gpt-5-mini", max_completion_tokens=50), check_reasoning_starved),
    Case("chat-reasoning-max-tokens", C, chat_body(model="o3-mini", max_tokens=100), check_error(
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        "max_tokens", "unsupported_parameter"), status=400),
    Case("chat-reasoning-schema", C, chat_body(model="gpt-5-nano", response_format=PERSON_CHAT),
         check_chat_schema(PERSON)),
    Case("chat-stop", C, chat_body(stop=["."]), check_stop),
    Case("chat-n-too-big", C, chat_body(n=129), check_error(
        "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead.", "n",
        "integer_above_max_value"), status=400),
    Case("chat-n-zero", C, chat_body(n=0), check_error(
        "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.", "n",
        "integer_below_min_value"), status=400),
    Case("chat-top-logprobs-too-big", C, chat_body(logprobs=True, top_logprobs=21), check_error(
        "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but got 21 instead.",
        "top_logprobs", "integer_above_max_value"), status=400),
    Case("chat-images", C, {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in these pictures?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}}]}]},
         check_images_in_prompt),
    Case("chat-snapshot-model", C, chat_body(model="gpt-4o-mini-2024-07-18"), None),
    Case("chat-service-tier", C, chat_body(service_tier="flex"), check_service_tier),
    # responses
    Case("responses-plain", R, responses_body(), check_plain_response),
    Case("responses-items", R, {"model": "gpt-4.1-mini", "instructions": "Be brief.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Hi"}, {"type": "input_text", "text": "there"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png",
                                                          "detail": "low"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "rainy"}]}, check_response_items_input),
    *[Case(f"responses-schema-{name}", R, responses_body(text={"format": {
        "type": "json_schema", "name": "out", "strict": True, "schema": s}}), check_response_schema(s))
      for name, s in SCHEMAS.items()],
    Case("responses-json-object", R, responses_body(text={"format": {"type": "json_object"}}),
         check_response_json_object),
    Case("responses-tools-required", R, responses_body(tools=RESPONSES_TOOLS, tool_choice="required"),
         check_response_tools(True)),
    Case("responses-tools-auto", R, responses_body(tools=RESPONSES_TOOLS), check_response_tools(False)),
    Case("responses-tools-named", R, responses_body(tools=RESPONSES_TOOLS, tool_choice={
        "type": "function", "name": "get_weather"}), check_response_tools(True, "get_weather")),
    Case("responses-tools-reasoning", R, responses_body(model="o3", tools=RESPONSES_TOOLS, tool_choice="required"),
         check_reasoning_then_calls),
    Case("responses-reasoning", R, responses_body(model="gpt-5", reasoning={"effort": "low"}),
         check_response_reasoning(False)),
    Case("responses-reasoning-default", R, responses_body(model="o4-mini"), check_response_reasoning(False)),
    Case("responses-reasoning-summary", R, responses_body(model="gpt-5-mini", reasoning={
        "effort": "high", "summary": "auto"}), check_response_reasoning(True)),
    Case("responses-incomplete", R, responses_body(max_output_tokens=16), check_incomplete(False)),
    Case("responses-incomplete-reasoning", R, responses_body(model="gpt-5", max_output_tokens=40),
         check_incomplete(True)),
    Case("responses-max-output-too-small", R, responses_body(max_output_tokens=5), check_error(
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 5 instead.",
        "max_output_tokens", "integer_below_min_value"), status=400),
    Case("responses-reasoning-unsupported", R, responses_body(reasoning={"effort": "high"}), check_error(
        "Unsupported parameter: 'reasoning.effort' is not supported with this model.", "reasoning.effort",
        "unsupported_parameter"), status=400),
    Case("responses-prompt", R, {"model": "gpt-4o", "input": "Hello", "prompt": {
        "id": "pmpt_abc123", "version": "2", "variables": {
            "customer": "Jane Doe", "topic": {"type": "input_text", "text": "order 1234"}}}}, check_prompt_variables),
    Case("responses-prompt-only", R, {"model": "gpt-4o", "prompt": {"id": "pmpt_abc123", "variables": {
        "customer": "Jane Doe", "topic": "order 1234"}}}, check_prompt_only),
    Case("responses-logprobs", R, responses_body(include=["message.output_text.logprobs"], top_logprobs=2),
         check_response_logprobs),
    Case("responses-echo", R, responses_body(
        temperature=0.2, top_p=0.5, store=False, metadata={"k": "v"}, user="u1", safety_identifier="s1",
        prompt_cache_key="c1", parallel_tool_calls=False, max_tool_calls=1, service_tier="flex",
        text={"verbosity": "low"}, truncation="auto", previous_response_id="resp_prev"), check_response_echo),
    # embeddings (generator owned elsewhere; its body must still parse)
    Case("embeddings-plain", E, {"model": "text-embedding-3-small", "input": "hello"}, check_embedding(1536, 1)),
    Case("embeddings-large-list", E, {"model": "text-embedding-3-large", "input": ["a", "b", "c"]},
         check_embedding(3072, 3)),
    Case("embeddings-dimensions", E, {"model": "text-embedding-3-small", "input": "x", "dimensions": 256},
         check_embedding(256, 1)),
    Case("embeddings-base64", E, {"model": "text-embedding-ada-002", "input": "x", "encoding_format": "base64"},
         check_embedding(1536, 1, b64=True)),
    Case("embeddings-tokens", E, {"model": "text-embedding-3-small", "input": [[1, 2, 3], [4, 5]], "dimensions": 8},
         check_embedding(8, 2)),
    # completions
    Case("completions-plain", catalog.COMPLETIONS, {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time"},
         check_completion),
    Case("completions-many", catalog.COMPLETIONS, {"model": "gpt-3.5-turbo-instruct", "prompt": [[1, 2, 3], "a b", "c"],
                                                   "n": 2}, check_completion_many),
    Case("completions-echo-logprobs", catalog.COMPLETIONS, {"model": "gpt-3.5-turbo-instruct", "max_tokens": 200,
                                                            "prompt": "Once upon a time", "echo": True, "logprobs": 3},
         check_completion_echo),
    Case("completions-logprobs-too-big", catalog.COMPLETIONS, {"model": "gpt-3.5-turbo-instruct", "prompt": "x",
                                                               "logprobs": 6}, check_error(
        "Invalid 'logprobs': integer above maximum value. Expected a value <= 5, but got 6 instead.", "logprobs",
        "integer_above_max_value"), status=400),
    Case("completions-long", catalog.COMPLETIONS, {"model": "gpt-3.5-turbo-instruct", "prompt": "x",
                                                   "max_tokens": 1000}, check_completion_long),
    # moderations
    Case("moderations-clean", catalog.MODERATIONS, {"model": "omni-moderation-latest", "input": "A calm day."},
         check_moderation(False)),
    Case("moderations-flagged", catalog.MODERATIONS, {"model": "omni-moderation-latest",
                                                      "input": "Please FLAGME now."}, check_moderation(True)),
    Case("moderations-list", catalog.MODERATIONS, {"model": "omni-moderation-latest",
                                                   "input": ["fine", "flagme", "also fine"]}, check_moderation_list),
    Case("moderations-image", catalog.MODERATIONS, {"model": "omni-moderation-latest", "input": [
        {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
         check_moderation_image),
    Case("moderations-text-model", catalog.MODERATIONS, {"model": "text-moderation-latest", "input": "hi"}, None),
    # images
    Case("images-default", catalog.IMAGES_GENERATIONS, {"model": "gpt-image-1", "prompt": "A cat"},
         check_image("1024x1024", "high", 1)),
    Case("images-n-size-quality", catalog.IMAGES_GENERATIONS, {"model": "gpt-image-1", "prompt": "A cat", "n": 3,
                                                               "size": "1536x1024", "quality": "low"},
         check_image("1536x1024", "low", 3)),
    Case("images-transparent", catalog.IMAGES_GENERATIONS, {
        "model": "gpt-image-1", "prompt": "A logo", "background": "transparent", "size": "1024x1536",
        "quality": "medium"}, check_image("1024x1536", "medium", 1, channels=4)),
    Case("images-auto", catalog.IMAGES_GENERATIONS, {"model": "gpt-image-1", "prompt": "A cat", "size": "auto",
                                                     "quality": "auto"}, check_image("1024x1024", "high", 1)),
    Case("images-dalle3", catalog.IMAGES_GENERATIONS, {"model": "dall-e-3", "prompt": "A cat", "quality": "hd",
                                                       "response_format": "b64_json"}, check_dalle(True)),
    Case("images-dalle2", catalog.IMAGES_GENERATIONS, {"model": "dall-e-2", "prompt": "A cat",
                                                       "response_format": "url"}, check_dalle(False)),
    Case("images-n-too-big", catalog.IMAGES_GENERATIONS, {"model": "gpt-image-1", "prompt": "A cat", "n": 11},
         check_error("Invalid 'n': integer above maximum value. Expected a value <= 10, but got 11 instead.", "n",
                     "integer_above_max_value"), status=400),
    Case("images-edit", catalog.IMAGES_EDITS, {"model": "gpt-image-1", "prompt": "Add a hat", "images": [
        {"file_id": "file-abc"}, {"image_url": "https://example.com/cat.png"}]}, check_edit),
    Case("images-edit-dalle2", catalog.IMAGES_EDITS, {"model": "dall-e-2", "prompt": "Add a hat",
                                                      "image": "file-abc"}, check_dalle(False)),
    # videos
    Case("videos-default", catalog.VIDEOS, {"model": "sora-2", "prompt": "A wave"}, check_video("720x1280", "4")),
    Case("videos-size-seconds", catalog.VIDEOS, {"model": "sora-2", "prompt": "A wave", "size": "1792x1024",
                                                 "seconds": "12", "input_reference": {"file_id": "file-x"}},
         check_video("1792x1024", "12")),
    Case("videos-failed", catalog.VIDEOS, {"model": "sora-2", "prompt": "flagme please"}, check_video_failed),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_generated_body(case: Case) -> None:
    for run in range(RUNS):
        custom_id = f"request-{run}"
        result = generate(case.endpoint, case.body, custom_id)
        if result.json_text is not None:  # a body the generator encoded itself: what json.dumps would write
            assert result.json_text == json.dumps(result.body)
        assert result.status_code == case.status
        if case.status == 200:
            parse(case.endpoint, result)
        check_usage(case.endpoint, result)
        if case.check is not None:
            case.check(result.body, result)
        # Same request, same bytes, whatever the order of its parameters; another custom_id, another body.
        again = generate(case.endpoint, dict(reversed(json.loads(json.dumps(case.body)).items())), custom_id)
        assert json.dumps(again.body) == json.dumps(result.body) and again.usage == result.usage


def reorder(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(value)}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


ODD_VALUES = [
    {"a": [1, -2.5, 1e300, 5e-324, None, True, False], "b": {}, "c": []},
    {"é": "ü\u2028\x00\x1f\x7f\"\\/", "z": "\ud83d\ude00", "k": [[[]]]},
    "plain", "", 0, -0.0, float("nan"), float("inf"), [float("-inf")], 2**70,
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
def test_encoders_write_what_json_writes(value: Any) -> None:
    assert base.dumps(value) == json.dumps(value)
    assert base.canonical(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, dict):
        assert base.canonical(reorder(value)) == base.canonical(value)
    for text in (value if isinstance(value, dict) else {}).values():
        if isinstance(text, str):
            assert base.json_string(text) == json.dumps(text)


def test_json_string_escapes_what_needs_it() -> None:
    for text in ["", "Lorem ipsum.", 'say "hi"', "back\\slash", "tab\tnew\nline", "\x7f", "café", "\u2028", "~ !#"]:
        assert base.json_string(text) == json.dumps(text), text


def test_every_endpoint_has_a_generator_and_cases() -> None:
    assert set(GENERATORS) == {*catalog.ENDPOINTS, catalog.MESSAGES}  # and Anthropic's (tests/test_anthropic.py)
    assert {c.endpoint for c in CASES} == set(catalog.ENDPOINTS)
    assert len(CASES) >= 60


def test_other_lines_get_other_answers() -> None:
    bodies = {json.dumps(generate(C, chat_body(), f"request-{i}").body["choices"]) for i in range(20)}
    assert len(bodies) == 20
    ids = {generate(R, responses_body(), f"request-{i}").body["id"] for i in range(20)}
    assert len(ids) == 20


def test_auto_tool_choice_takes_both_paths() -> None:
    outcomes = {"tool_calls" in msg(generate(C, chat_body(tools=CHAT_TOOLS), f"r{i}").body) for i in range(40)}
    assert outcomes == {True, False}
    counts = {len(msg(generate(C, chat_body(tools=CHAT_TOOLS, tool_choice="required"), f"r{i}").body)["tool_calls"])
              for i in range(60)}
    assert counts == {1, 2}
    serial = {len(msg(generate(C, chat_body(tools=CHAT_TOOLS, tool_choice="required", parallel_tool_calls=False),
                               f"r{i}").body)["tool_calls"]) for i in range(60)}
    assert serial == {1}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_instances_validate(name: str) -> None:
    """Many draws per schema: every optional branch, every anyOf arm, every recursion depth stays valid."""
    import random

    schema = SCHEMAS[name]
    for i in range(60):
        validate(schema_gen.instance(schema, random.Random(i)), schema)


@pytest.mark.parametrize("items", [{"enum": [1, 2, 3, 4]}, {"type": "boolean"}, {"enum": ["a", "b"]}])
def test_unique_arrays_use_every_allowed_value(items: dict[str, Any]) -> None:
    """All of a small set of values, unique: drawing at random may keep repeating, so it must still fill up."""
    import random

    size = len(schema_gen._finite(items))
    schema = {"type": "array", "items": items, "minItems": size, "maxItems": size, "uniqueItems": True}
    for i in range(500):
        validate(schema_gen.instance(schema, random.Random(i)), schema)


def test_schema_optional_properties_vary() -> None:
    import random

    seen = {tuple(sorted(schema_gen.instance(PERSON, random.Random(i)))) for i in range(40)}
    assert len(seen) > 3
    assert all(set(PERSON["required"]) <= set(keys) for keys in seen)


def test_moderation_trigger_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"model": "omni-moderation-latest", "input": "Some BANANA talk"}
    assert not generate(catalog.MODERATIONS, body).body["results"][0]["flagged"]
    monkeypatch.setenv("MOCKBATCH_MODERATION_TRIGGER", "banana, kiwi")
    try:
        importlib.reload(moderations)
        assert moderations.TRIGGERS == ("banana", "kiwi")
        flagged = generate(catalog.MODERATIONS, body)
        assert flagged.body["results"][0]["flagged"]
        assert not generate(catalog.MODERATIONS, {**body, "input": "flagme"}).body["results"][0]["flagged"]
        ModerationCreateResponse.model_validate(flagged.body)
    finally:
        monkeypatch.delenv("MOCKBATCH_MODERATION_TRIGGER")
        importlib.reload(moderations)
    assert moderations.TRIGGERS == ("flagme",)


@pytest.mark.parametrize("schema", [
    {"allOf": [{"$ref": "#"}]},
    {"type": "array", "items": {"$ref": "#"}, "minItems": 2},
    {"type": "object", "properties": {"a": {"$ref": "#"}, "b": {"$ref": "#"}}, "required": ["a", "b"]},
    {"type": "array", "minItems": 10**9},
    {"type": "string", "minLength": 10**9},
    {"type": "object", "minProperties": 10**9},
    {"type": "string", "pattern": "a{5000}"},
    {"type": "string", "pattern": "(?<=x)y"},
    {"type": "bogus"},
    {"$ref": "#/$defs/missing"},
], ids=lambda s: json.dumps(s)[:40])
def test_schema_pathological_terminates(schema: dict[str, Any]) -> None:
    """Unsatisfiable or explosive schemas still give a bounded answer quickly, never an exception or a hang."""
    import random

    value = schema_gen.instance(schema, random.Random(1))
    assert len(json.dumps(value)) < 1_000_000


ODD_VALUES = [None, "x", 0, -1, 3, 1.5, True, [], {}, [1], [None], {"a": 1}, {"type": "json_schema"},
              {"type": "json_schema", "json_schema": "x"}, {"format": {"type": "json_schema", "schema": 5}},
              {"variables": {"a": 5}}, {"effort": 5}, {"type": "allowed_tools", "allowed_tools": "x"},
              [{"type": "function", "function": "x"}], [{"type": "function", "name": 3}],
              [1, None, {"type": "message"}, {"role": "user", "content": 5}], 10**20, "required"]
ODD_KEYS = ["messages", "input", "prompt", "n", "max_tokens", "max_completion_tokens", "max_output_tokens",
            "response_format", "text", "tools", "tool_choice", "functions", "function_call", "logprobs",
            "top_logprobs", "stop", "reasoning_effort", "reasoning", "instructions", "include", "echo", "size",
            "quality", "background", "seconds", "images", "metadata", "max_tool_calls"]
ODD_BASES = {
    C: chat_body(), R: responses_body(model="gpt-5"), catalog.COMPLETIONS: {"model": "gpt-3.5-turbo-instruct",
                                                                           "prompt": "hi"},
    catalog.MODERATIONS: {"model": "omni-moderation-latest", "input": "hi"},
    catalog.IMAGES_GENERATIONS: {"model": "gpt-image-1", "prompt": "hi"},
    catalog.IMAGES_EDITS: {"model": "dall-e-2", "prompt": "hi"}, catalog.VIDEOS: {"model": "sora-2", "prompt": "hi"},
}


@pytest.mark.parametrize("endpoint", sorted(ODD_BASES))
def test_odd_parameter_values_never_break_a_line(endpoint: str) -> None:
    """Any value of any parameter gives a 200 or a 400 with a JSON body, never an exception."""
    for key in ODD_KEYS:
        for value in ODD_VALUES:
            body = {**ODD_BASES[endpoint], key: value}
            result = generate(endpoint, body)
            assert result.status_code in (200, 400), (key, value)
            json.dumps(result.body, allow_nan=False)
