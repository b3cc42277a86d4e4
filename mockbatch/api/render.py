"""Rendering: JSON answers, the error envelopes (OpenAI's, or the style of the request's surface), authentication and
the common headers."""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockbatch import ids, operations
from mockbatch.engine import Engine
from mockbatch.engine.messages import rfc3339
from mockbatch.errors import (
    InvalidRequest,
    MockBatchError,
    PayloadTooLarge,
    Unauthorized,
    anthropic_envelope,
    envelope,
    invalid_type,
    invalid_value,
    out_of_range,
    status_envelope,
)

log = logging.getLogger("mockbatch")

SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
BAD_JSON = ("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
            "If you have trouble figuring out how to fix this, please contact us through our help center at "
            "help.openai.com.)")


class JSON(JSONResponse):
    """Starlette's JSON answer, except that a lone UTF-16 surrogate a client sent (legal in JSON, not in UTF-8:
    a truncated emoji in metadata, a file name) is echoed as a `\\uXXXX` escape instead of failing the answer."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSON(data, status_code=status, headers=headers)


SCENARIO_HEADER = "x-mockbatch-scenario"  # a request's scenario, over the server's
ANSWER = "mockbatch.answer"  # where `answer` leaves the object it sends, in the request's scope


def answer(request: Request, data: dict[str, Any]) -> Response:
    """A file or batch object as the JSON answer; the object is also left in the request's scope, where the
    request journal takes the ids it carries from (so it never parses the answer back)."""
    request.scope[ANSWER] = data
    return JSON(data)


# -- error envelopes by surface ------------------------------------------------------------------------------------
# A surface names its style (operations.Surface.errors); each style turns (status, message, param, code, type) into
# its body. OpenAI's is errors.envelope; another API's is one more entry here (and a branch in `scripted_error`).
def azure_envelope(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """Azure's envelope: `code` always a string (the status's number when there is no code of its own) before the
    message; `param` only when there is one; no `type`."""
    error: dict[str, Any] = {"code": code or str(status), "message": message}
    if param is not None:
        error["param"] = param
    return {"error": error}


ERROR_STYLES = {
    "openai": lambda status, message, param, code, kind: envelope(message, param, code, kind),
    "anthropic": lambda status, message, param, code, kind: anthropic_envelope(status, message),
    "azure": lambda status, message, param, code, kind: azure_envelope(status, message, param, code),
}
ANTHROPIC_MESSAGES = {  # a scripted fault's message when the scenario gives none
    429: "This request would exceed the rate limit for your organization of 50 requests per minute. For details, "
         "refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage.",
    400: "Bad request.", 401: "invalid x-api-key", 403: "Permission denied.", 404: "Not found.",
    413: "Request too large.", 500: "Internal server error", 503: "Service unavailable.", 529: "Overloaded",
}


AZURE_MESSAGES = {  # a scripted fault's message on Azure's surfaces when the scenario gives none
    429: "Requests to the Azure OpenAI API have exceeded call rate limit of your current OpenAI S0 pricing tier. "
         "Please retry after 1 second. Please go here: https://aka.ms/oai/quotaincrease if you would like to further "
         "increase the default rate limit.",
    401: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
         "active subscription and use a correct regional API endpoint for your resource.",
    404: "Resource not found", 500: "Internal server error", 503: "Service temporarily unavailable",
}
AZURE_NO_KEY = ("Access denied due to missing subscription key. Make sure to include subscription key when making "
                "requests to an API.")
AZURE_TENANT = "azure\n"  # + the API key: Azure's tenants apart from OpenAI's (and Anthropic's), as the same key
# names another resource there; a newline no header value can hold keeps the namespaces apart


def error_style(path: str) -> str:
    surface = operations.surface_at(path)
    return surface.errors if surface is not None else "openai"


def error_body(path: str, status: int, message: str, param: str | None = None, code: str | None = None,
               kind: str = "invalid_request_error") -> dict[str, Any]:
    """The error body a request to `path` gets: in its surface's style."""
    return ERROR_STYLES[error_style(path)](status, message, param, code, kind)


def scripted_error(path: str, status: int, error: dict[str, Any] | None, now: float,
                   headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A scenario fault's error answer for a request to `path`: the body (the scenario's fields over the style's
    defaults) and the headers (the scenario's; on Anthropic's surface a 429 also gets Anthropic's rate-limit headers,
    unless the scenario sets them)."""
    style = error_style(path)
    if style == "azure":
        given = dict(error or {})
        message = given.pop("message", None) or AZURE_MESSAGES.get(status) or status_envelope(status, None)[
            "error"]["message"]
        body = azure_envelope(status, str(message), given.pop("param", None), str(given.pop("code", None) or status))
        body["error"].update(given)  # the scenario's other fields, as given
        return body, ({"retry-after": "1", **headers} if status == 429 else headers)
    if style != "anthropic":
        return status_envelope(status, error), headers
    given = error or {}
    body = anthropic_envelope(status, str(given.get("message") or ANTHROPIC_MESSAGES.get(status, f"Error {status}.")),
                              given.get("type"))
    if status == 429:
        reset = rfc3339(now + float(headers.get("retry-after", "1") or 1))
        headers = {"retry-after": "1", "anthropic-ratelimit-requests-limit": "50",
                   "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": reset,
                   **headers}
    return body, headers


def engine(request: Request) -> Engine:
    return request.state.engine  # type: ignore[no-any-return]


# The header a surface's clients send their key in, read before a bearer token (OpenAI's: the bearer token only).
KEY_HEADER = {"azure": "api-key", "anthropic": "x-api-key"}


def presented_key(headers: Headers, style: str) -> str:
    """The key a request presents on a surface of `style` (its own header, else `Authorization: Bearer`, as an Entra
    ID token, the SDK's auth_token or the `openai` client on Azure's v1 paths send it); "" if none. The one reading
    of who is asking, for the handlers and the journal alike."""
    if (own := KEY_HEADER.get(style)) and (key := headers.get(own, "").strip()):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _admitted(request: Request, key: str, missing: MockBatchError, refused: MockBatchError) -> str:
    """`key`, if there is one and (with --api-key set) it is one of those keys."""
    if not key:
        raise missing
    allowed = request.state.settings.api_keys
    if allowed and key not in allowed:
        raise refused
    return key


def tenant(request: Request) -> str:
    """The bearer token is the tenant; with --api-key set, only those keys are let in. On Azure's surfaces, the
    `api-key` header's key (or the bearer token) in Azure's namespace (AZURE_TENANT)."""
    if error_style(request.scope["path"]) == "azure":
        return AZURE_TENANT + azure_key(request)
    token = presented_key(request.headers, "openai")
    masked = f"{token[:6]}***{token[-3:]}" if len(token) > 10 else "***"
    return _admitted(request, token, Unauthorized("Missing bearer or basic authentication in header",
                                                  headers={"www-authenticate": 'Bearer realm="OpenAI API"'}),
                     Unauthorized(f"Incorrect API key provided: {masked}. You can find your API key at "
                                  "https://platform.openai.com/account/api-keys.", code="invalid_api_key"))


def azure_key(request: Request) -> str:
    """Azure's authentication: `api-key` (or a bearer token); with --api-key set, only those keys are let in. Refused
    in Azure's words."""
    return _admitted(request, presented_key(request.headers, "azure"), Unauthorized(AZURE_NO_KEY),
                     Unauthorized(AZURE_MESSAGES[401]))


ANTHROPIC_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")  # any dated version: SDKs send newer ones than 2023-06-01


def api_key(request: Request) -> str:
    """Anthropic's authentication: `x-api-key` (or `Authorization: Bearer`, as the SDK's auth_token sends it) and an
    `anthropic-version`; with --api-key set, only those keys are let in. The key (the engine keeps Anthropic's tenants
    apart from OpenAI's)."""
    key = _admitted(request, presented_key(request.headers, "anthropic"), Unauthorized("x-api-key header is required"),
                    Unauthorized(ANTHROPIC_MESSAGES[401]))
    version = request.headers.get("anthropic-version")
    if not version:
        raise InvalidRequest("anthropic-version: header is required")
    if not ANTHROPIC_VERSION.fullmatch(version):
        raise InvalidRequest(f"anthropic-version: '{version}' is not a valid version")
    return key


MAX_JSON_BYTES = 1 << 20  # far above any valid body (metadata tops out near 10 kB); refused before it is all read


async def json_body(request: Request) -> dict[str, Any]:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"Request body too large. The maximum size is {MAX_JSON_BYTES} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    keep_body(request, raw)
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise InvalidRequest(BAD_JSON) from None
    if not isinstance(data, dict):
        raise InvalidRequest(BAD_JSON)
    if b"\\u" in raw and (param := _unpaired(data)) is not None:
        raise InvalidRequest(f"Invalid '{param}': the string holds an unpaired UTF-16 surrogate, which is not valid "
                             "Unicode.", param=param, code="invalid_value")
    return data


def keep_body(request: Request, raw: bytes) -> None:
    """Leave a body read through `request.stream()` where `request.body()` looks, for anyone reading it again (a
    stream is read once). It leans on a Starlette internal, the private `Request._body` cache;
    tests/test_operations.py fails loudly if that changes."""
    request._body = raw


def _unpaired(data: dict[str, Any]) -> str | None:
    """Where a body holds a lone surrogate (legal JSON, not Unicode), outside `metadata`: ids, names and
    endpoints with one could never match anything, nor be stored as UTF-8 text. Metadata is kept as JSON, so
    it is echoed back as sent."""
    todo: list[tuple[str, Any]] = [(k, v) for k, v in data.items() if k != "metadata"]
    while todo:
        path, value = todo.pop()
        if not _encodable(path):
            return path
        if isinstance(value, str) and not _encodable(value):
            return path
        if isinstance(value, dict):
            todo += [(f"{path}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list):
            todo += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_type(name, "an integer", raw) from None
    if (error := out_of_range(name, value, low, high)) is not None:
        raise error
    return value


def choice_param(request: Request, name: str, default: str, allowed: list[str]) -> str:
    value = request.query_params.get(name) or default
    if value not in allowed:
        raise invalid_value(value, allowed, name)
    return value


# -- exception handlers -------------------------------------------------------------------------
async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MockBatchError)
    body = error_body(request.scope["path"], exc.status, exc.message, exc.param, exc.code, exc.type)
    return json_response(body, exc.status, exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.scope["path"]
    if exc.status_code in (404, 405):
        azure = error_style(path) == "azure"
        message = "Resource not found" if azure else f"Invalid URL ({request.method} {request.url.path})"
        return json_response(error_body(path, 404, message), 404)
    return json_response(error_body(path, exc.status_code, str(exc.detail)), exc.status_code)


LOGGED = "mockbatch.logged"  # the exception `server_error` has logged, in the request's scope


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug: recorded and logged before the 500 goes out, so the client hears of it only afterwards."""
    failures = getattr(request.app.state, "failures", None)
    if failures is not None:
        failures.append(exc)
    log.error("Exception in ASGI application", exc_info=exc)
    request.scope[LOGGED] = exc
    return json_response(error_body(request.scope["path"], 500, SERVER_ERROR, kind="server_error"), 500)


EXCEPTION_HANDLERS = {MockBatchError: domain_error, HTTPException: http_error, Exception: server_error}


class CommonHeaders:
    """Adds x-request-id, openai-version and openai-processing-ms to every answer (plain ASGI); on Anthropic's surface,
    its request-id instead."""

    def __init__(self, app: ASGIApp, seed: int) -> None:
        self.app = app
        self.seed = seed
        self._seq = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seq = next(self._seq)
        style = error_style(scope["path"])
        anthropic = style == "anthropic"
        if style == "azure":  # a UUID, also as Azure's API Management header
            request_id = str(uuid.UUID(bytes=ids.digest("azure-request", self.seed, seq), version=4))
        else:
            request_id = (ids.anthropic_request_id if anthropic else ids.request_id)(self.seed, seq)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = int((time.perf_counter() - started) * 1000)
                headers = list(message.get("headers", []))
                if anthropic:  # Anthropic's own: the SDK reads `request-id`
                    headers.append((b"request-id", request_id.encode()))
                elif style == "azure":
                    headers += [(b"x-request-id", request_id.encode()), (b"apim-request-id", request_id.encode())]
                else:
                    headers += [(b"x-request-id", request_id.encode()), (b"openai-version", b"2020-10-01"),
                                (b"openai-processing-ms", str(elapsed).encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
