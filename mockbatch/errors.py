"""The wire's errors, in one place: the OpenAI error envelope, the wording of its usual messages (types,
values, ranges), and the domain exceptions that carry them to the HTTP layer, which renders them as
{"error": {"message", "type", "param", "code"}}. A per-line error (a batch's error file) is the same envelope.

* MockBatchError            (status 400)
  + InvalidRequest          400 invalid_request_error
  + Unauthorized            401
  + NotFound                404
  + Conflict                409
  + PayloadTooLarge         413
  + StorageFull             507 server_error
"""

from __future__ import annotations

from typing import Any


class MockBatchError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


class InvalidRequest(MockBatchError):
    status = 400


class Unauthorized(MockBatchError):
    status = 401


class NotFound(MockBatchError):
    status = 404


class Conflict(MockBatchError):
    status = 409


class PayloadTooLarge(MockBatchError):
    status = 413


class StorageFull(MockBatchError):
    """The database cannot grow (a full disk, or the configured size cap): nothing was written."""

    status = 507
    type = "server_error"


def file_not_found(file_id: str) -> NotFound:
    return NotFound(f"No such File object: {file_id}", param="id")


def batch_not_found(batch_id: str) -> NotFound:
    return NotFound(f"No batch found with id '{batch_id}'.", code="batch_not_found")


def missing_parameter(name: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")


def invalid_value(value: object, allowed: list[str], param: str) -> InvalidRequest:
    return InvalidRequest(value_message(value, allowed), param=param, code="invalid_value")


def invalid_type(param: str, expected: str, got: object) -> InvalidRequest:
    return InvalidRequest(type_message(param, expected, got), param=param, code="invalid_type")


def out_of_range(param: str, value: int, low: int, high: int) -> InvalidRequest | None:
    problem = range_problem(param, value, low, high)
    return None if problem is None else InvalidRequest(problem[0], param=param, code=problem[1])


# -- the envelope and the wording ------------------------------------------------------------------------
def envelope(message: str, param: str | None = None, code: str | None = None,
             kind: str = "invalid_request_error") -> dict[str, Any]:
    """The OpenAI error envelope: every key present, nulls included."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def value_message(value: object, allowed: list[str]) -> str:
    quoted = [f"'{a}'" for a in allowed]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]
    return f"Invalid value: '{value}'. Supported values are: {listed}."


def type_message(param: str, expected: str, got: object) -> str:
    return f"Invalid type for '{param}': expected {expected}, but got {json_type(got)} instead."


def range_problem(param: str, value: float, low: float | None, high: float | None,
                  noun: str = "integer") -> tuple[str, str] | None:
    """The message and code for a number (`noun`: "integer" or "decimal") outside [low, high] (None: no bound),
    else None."""
    if low is not None and value < low:
        return (f"Invalid '{param}': {noun} below minimum value. Expected a value >= {low}, but got {value} "
                f"instead.", f"{noun}_below_min_value")
    if high is not None and value > high:
        return (f"Invalid '{param}': {noun} above maximum value. Expected a value <= {high}, but got {value} "
                f"instead.", f"{noun}_above_max_value")
    return None


def length_above(kind: str, param: str, limit: int, size: int) -> tuple[str, str]:
    """The message and code for an array or a string (`kind`) longer than `limit`."""
    article = "an" if kind == "array" else "a"
    return (f"Invalid '{param}': {kind} too long. Expected {article} {kind} with maximum length {limit}, but got "
            f"{article} {kind} with length {size} instead.", f"{kind}_above_max_length")


def length_below(kind: str, param: str, limit: int, size: int) -> tuple[str, str]:
    """The message and code for an array or a string (`kind`) shorter than `limit` (an empty one has its own)."""
    article = "an" if kind == "array" else "a"
    if size == 0:
        return (f"Invalid '{param}': empty {kind}. Expected {article} {kind} with minimum length {limit}, but got "
                f"an empty {kind} instead.", f"empty_{kind}")
    return (f"Invalid '{param}': {kind} too short. Expected {article} {kind} with minimum length {limit}, but got "
            f"{article} {kind} with length {size} instead.", f"{kind}_below_min_length")


def json_kind(value: object) -> str:
    """The JSON Schema type of a parsed JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "array" if isinstance(value, list) else "object"


TYPE_WORDS = {"null": "null", "boolean": "a boolean", "integer": "an integer", "number": "a decimal",
               "string": "a string", "array": "an array", "object": "an object"}


def json_type(value: object) -> str:
    """The type of a value as OpenAI's messages name it ("a decimal", "an array", …)."""
    return TYPE_WORDS[json_kind(value)]


# Anthropic's error types, by status (its envelope: `{"type": "error", "error": {"type", "message"}}`).
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


def anthropic_envelope(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """Anthropic's error body; its `type` follows the status unless `kind` is one of Anthropic's."""
    if kind not in ANTHROPIC_ERROR_TYPES.values():
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


# -- the envelope of a scripted status (scenario faults and line rules) -----------------------------------
DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {  # status -> (type, code, message)
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "You are not allowed to perform this request."),
    404: ("invalid_request_error", None, "Not found."),
    408: ("invalid_request_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    429: ("requests", "rate_limit_exceeded",
          "Rate limit reached for requests. Please try again in 1s. "
          "Visit https://platform.openai.com/account/rate-limits to learn more."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def status_envelope(status: int, error: dict[str, Any] | None) -> dict[str, Any]:
    """An OpenAI error envelope for `status`, with the scenario's fields over the defaults."""
    type_, code, message = DEFAULT_ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error",
                                                       None, f"Error {status}."))
    body = envelope(message, None, code, type_)
    body["error"].update(error or {})
    return body
