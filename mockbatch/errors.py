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
