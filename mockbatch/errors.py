"""Domain errors: plain exceptions carrying what the OpenAI error envelope needs.

The HTTP layer renders them as {"error": {"message", "type", "param", "code"}}.

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
    quoted = [f"'{a}'" for a in allowed]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]
    return InvalidRequest(f"Invalid value: '{value}'. Supported values are: {listed}.", param=param,
                          code="invalid_value")


def invalid_type(param: str, expected: str, got: object) -> InvalidRequest:
    return InvalidRequest(f"Invalid type for '{param}': expected {expected}, but got {json_type(got)} instead.",
                          param=param, code="invalid_type")


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


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
    body = {"message": message, "type": type_, "param": None, "code": code}
    body.update(error or {})
    return {"error": body}
