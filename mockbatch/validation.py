"""Validation of a batch input file, pure: lines in, (requests, errors) out.

The real API validates after the create call and reports every bad line together, in line order,
with a 1-based `line`; codes and messages follow the contract exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mockbatch import catalog

MAX_LINES = 50_000
MAX_ERRORS = 1_000  # the real cap is unknown; this keeps a failed batch's JSON small


@dataclass(frozen=True)
class Request:
    line: int  # 1-based line in the input file
    custom_id: str
    body: dict[str, Any]


@dataclass
class Report:
    requests: list[Request] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None  # the resolved snapshot name

    @property
    def ok(self) -> bool:
        return not self.errors


def error(code: str, message: str, param: str | None, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _reject_constant(value: str) -> float:
    raise ValueError(value)  # NaN and Infinity are not JSON


def parse_line(raw: bytes) -> Any:
    return json.loads(raw, parse_constant=_reject_constant)


def numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based number; a UTF-8 BOM and CR line endings are tolerated."""
    for n, raw in enumerate(lines, start=1):
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.strip():
            yield n, raw


def check_line(obj: Any, n: int, endpoint: str) -> dict[str, Any] | None:
    """The first problem of one parsed line, or None."""
    if not isinstance(obj, dict):
        return error("invalid_request", "This line is not a JSON object.", None, n)
    for key in ("custom_id", "method", "url", "body"):
        if key not in obj or obj[key] is None:
            return error("missing_required_parameter", f"Missing required parameter: '{key}'.", key, n)
    for key in ("custom_id", "method", "url"):
        if not isinstance(obj[key], str):
            return _type_error(key, "a string", obj[key], n)
    if not isinstance(obj["body"], dict):
        return _type_error("body", "an object", obj["body"], n)
    if obj["method"] != "POST":
        return error("invalid_value", f"Invalid value: '{obj['method']}'. Supported values are: 'POST'.", "method", n)
    if obj["url"] != endpoint:
        return error("invalid_url", "The URL provided for this request does not match the batch endpoint.", "url", n)
    body = obj["body"]
    if body.get("stream") is True:
        product = catalog.PRODUCT[endpoint]
        return error("streaming_unsupported", f"{product}: Streaming is not supported in the Batch API.",
                     "body.stream", n)
    if body.get("model") is None:
        return error("invalid_request", "Model parameter is required.", "body.model", n)
    if not isinstance(body["model"], str):
        return _type_error("body.model", "a string", body["model"], n)
    required = catalog.REQUIRED_INPUT[endpoint]
    if body.get(required) is None and not (endpoint == catalog.RESPONSES and body.get("prompt") is not None):
        return error("invalid_request", f"{required.capitalize()} parameter is required.", f"body.{required}", n)
    if catalog.lookup(body["model"], endpoint) is None:
        return error("model_not_found", f"The provided model '{body['model']}' is not supported by the Batch API.",
                     "body.model", n)
    return None


def _type_error(param: str, expected: str, got: Any, n: int) -> dict[str, Any]:
    from mockbatch.errors import json_type

    return error("invalid_type", f"Invalid type for '{param}': expected {expected}, but got {json_type(got)} instead.",
                 param, n)


def validate(lines: Iterable[bytes], endpoint: str, *, keep_bodies: bool = True) -> Report:
    """Check every line; collect all errors in line order (up to MAX_ERRORS)."""
    report = Report()
    seen: set[str] = set()
    model_name: str | None = None
    count = 0
    for n, raw in numbered(lines):
        count += 1
        if len(report.errors) >= MAX_ERRORS:
            continue
        try:
            obj = parse_line(raw)
        except (ValueError, RecursionError):
            report.errors.append(error("invalid_json_line", "This line is not parseable as valid JSON.", None, n))
            continue
        problem = check_line(obj, n, endpoint)
        if problem is None and obj["custom_id"] in seen:
            problem = error(
                "duplicate_custom_id",
                f"The custom_id '{obj['custom_id']}' for this request is a duplicate of another request. "
                "The custom_id parameter must be unique for each request in a batch.", "custom_id", n)
        if problem is None:
            if model_name is None:
                model_name = obj["body"]["model"]
            elif catalog.MODELS[obj["body"]["model"]] != catalog.MODELS[model_name]:
                problem = error(
                    "mismatched_model",
                    f"The model '{obj['body']['model']}' for this request does not match the rest of the batch. "
                    "Each batch must contain requests for a single model.", "body.model", n)
        if problem is not None:
            report.errors.append(problem)
            continue
        seen.add(obj["custom_id"])
        report.requests.append(Request(n, obj["custom_id"], obj["body"] if keep_bodies else {}))
    if count == 0:
        report.errors.append(error("empty_file", "The batch input file is empty.", None, None))
    elif count > MAX_LINES:
        report.errors.insert(0, error(
            "too_many_tasks",
            f"The number of requests in the input file exceeds the maximum allowed value of {MAX_LINES:,}.",
            None, None))
    if model_name is not None:
        report.model = catalog.MODELS[model_name].snapshot
    return report


# -- the create call's own parameters (answered synchronously with a 400) --------------------------

FILE_PURPOSES = ["fine-tune", "assistants", "batch", "user_data", "vision", "evals"]
OUTPUT_TTL_RANGE = (3600, 2_592_000)


def check_create(params: dict[str, Any]) -> None:
    """Raise InvalidRequest for a `POST /v1/batches` body the real API refuses outright."""
    from mockbatch.errors import InvalidRequest, invalid_type, invalid_value, missing_parameter

    for name in ("input_file_id", "endpoint", "completion_window"):
        if params.get(name) is None:
            raise missing_parameter(name)
        if not isinstance(params[name], str):
            raise invalid_type(name, "a string", params[name])
    if params["endpoint"] not in catalog.ENDPOINTS:
        raise invalid_value(params["endpoint"], list(catalog.ENDPOINTS), "endpoint")
    if params["completion_window"] != "24h":
        raise invalid_value(params["completion_window"], ["24h"], "completion_window")
    metadata = params.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise invalid_type("metadata", "an object", metadata)
        if len(metadata) > 16:
            raise InvalidRequest(
                "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
                f"but got an object with {len(metadata)} properties instead.", param="metadata",
                code="object_above_max_properties")
        for key, value in metadata.items():
            if len(key) > 64:
                raise InvalidRequest(
                    f"Invalid property name in 'metadata': '{key}' is too long. Expected a string with maximum "
                    f"length 64, but got a string with length {len(key)} instead.", param=f"metadata.{key}",
                    code="property_name_above_max_length")
            if not isinstance(value, str):
                raise invalid_type(f"metadata.{key}", "a string", value)
            if len(value) > 512:
                raise InvalidRequest(
                    f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512, "
                    f"but got a string with length {len(value)} instead.", param=f"metadata.{key}",
                    code="string_above_max_length")
    ttl = params.get("output_expires_after")
    if ttl is not None:
        if not isinstance(ttl, dict):
            raise invalid_type("output_expires_after", "an object", ttl)
        if ttl.get("anchor") != "created_at":
            raise invalid_value(ttl.get("anchor"), ["created_at"], "output_expires_after.anchor")
        seconds = ttl.get("seconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise invalid_type("output_expires_after.seconds", "an integer", seconds)
        low, high = OUTPUT_TTL_RANGE
        if seconds < low:
            raise InvalidRequest(
                f"Invalid 'output_expires_after.seconds': integer below minimum value. Expected a value >= {low}, "
                f"but got {seconds} instead.", param="output_expires_after.seconds", code="integer_below_min_value")
        if seconds > high:
            raise InvalidRequest(
                f"Invalid 'output_expires_after.seconds': integer above maximum value. Expected a value <= {high}, "
                f"but got {seconds} instead.", param="output_expires_after.seconds", code="integer_above_max_value")


def check_purpose(purpose: Any) -> str:
    from mockbatch.errors import InvalidRequest, missing_parameter

    if purpose is None or purpose == "":
        raise missing_parameter("purpose")
    if purpose not in FILE_PURPOSES:
        raise InvalidRequest(f"'{purpose}' is not one of {FILE_PURPOSES} - 'purpose'", param="purpose")
    return str(purpose)
