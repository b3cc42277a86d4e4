"""Input checking, pure: the batch input file's lines, the create call's parameters, upload fields.

The real API validates a batch's file after the create call and reports every bad line together, in
line order, with a 1-based `line`; codes and messages follow the contract exactly (where the contract
has no confirmed wording, its suggested default). Problems of the create call itself are answered
synchronously with a 400 (`check_create`, `check_input_file`).

The same `examine` (one line on its own) and `Collector` (the lines together, in order) run in the
server's validation job, whole or in parts, and in `mockbatch validate`, so the offline validator reports
exactly what a batch would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from mockbatch import catalog
from mockbatch.catalog import DEFAULT, Catalog
from mockbatch.errors import (
    InvalidRequest,
    invalid_type,
    invalid_value,
    missing_parameter,
    out_of_range,
    type_message,
    value_message,
)
from mockbatch.plan import FLAVOURS
from mockbatch.tokens import estimate_tokens

MAX_LINES = 50_000  # the default of catalog.Endpoint.max_lines (the limit a batch's endpoint sets)
MAX_EMBEDDING_INPUTS = 50_000  # across all requests of an embeddings batch
MAX_INPUT_BYTES = 200 * 1024 * 1024  # the Batch API's input file limit; larger files are refused at create
MAX_ERRORS = 1_000  # the real cap is unknown; this keeps a failed batch's JSON small
ORGANIZATION = "org-mockbatch"  # the organization named in messages that name one


class Request(NamedTuple):
    line: int  # 1-based line in the input file
    custom_id: str
    body: dict[str, Any]


_new_request = partial(tuple.__new__, Request)  # Request from a (line, custom_id, body) tuple


@dataclass
class Report:
    requests: list[Request] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None  # the resolved snapshot name
    tokens: int = 0  # estimated input tokens of the valid requests (see `request_tokens`)
    count: int = 0  # non-blank lines seen

    @property
    def ok(self) -> bool:
        return not self.errors


def error(code: str, message: str, param: str | None, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _reject_constant(value: str) -> float:
    raise ValueError(value)  # NaN and Infinity are not JSON


_decoder = json.JSONDecoder(parse_constant=_reject_constant)  # made once: json.loads(..., **kw) makes one a call


def parse_line(raw: bytes) -> Any:
    """As `json.loads` reads bytes (UTF-8, -16 or -32), less NaN and Infinity."""
    if raw[:1] != b"{" or raw[1:2] == b"\x00":  # not the usual line: the general way
        return _decoder.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    # A line that starts with "{" and no NUL is UTF-8 (what detect_encoding would say, found sooner), and has
    # no leading whitespace for `decode` to skip: the scanner is called straight, and only JSON whitespace
    # may follow the value (as `decode` requires, without its two regular expressions).
    text = raw.decode("utf-8", "surrogatepass")
    value, end = _decoder.raw_decode(text)
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


_JSON_WHITESPACE = " \t\n\r"


def numbered(lines: Iterable[bytes], bom: bool = True) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based number; a UTF-8 BOM (unless `bom` is False: the lines do not start
    the file) and CR line endings are tolerated."""
    for n, raw in enumerate(lines, start=1):
        if n == 1 and bom and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.strip():
            yield n, raw


# -- one line -------------------------------------------------------------------------------------
def check_line(obj: Any, n: int, endpoint: str, models: Catalog = DEFAULT) -> dict[str, Any] | None:
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
        return error("invalid_value", value_message(obj["method"], ["POST"]), "method", n)
    if obj["url"] != endpoint:
        return error("invalid_url", "The URL provided for this request does not match the batch endpoint.", "url", n)
    body = obj["body"]
    if body.get("stream") is True:
        product = models.endpoints[endpoint].product
        return error("streaming_unsupported", f"{product}: Streaming is not supported in the Batch API.",
                     "body.stream", n)
    # A saved prompt (`prompt: {id, version, variables}`) does not stand in for the model.
    if body.get("model") is None:
        return error("invalid_request", "Model parameter is required.", "body.model", n)
    if not isinstance(body["model"], str):
        return _type_error("body.model", "a string", body["model"], n)
    required = models.endpoints[endpoint].required
    # ... but on /v1/responses it does stand in for the input.
    if body.get(required) is None and not (endpoint == catalog.RESPONSES and body.get("prompt") is not None):
        return error("invalid_request", f"{required.capitalize()} parameter is required.", f"body.{required}", n)
    if models.lookup(body["model"], endpoint) is None:
        return error("model_not_found", f"The provided model '{body['model']}' is not supported by the Batch API.",
                     "body.model", n)
    return None


def _type_error(param: str, expected: str, got: Any, n: int) -> dict[str, Any]:
    return error("invalid_request", type_message(param, expected, got), param, n)


def embedding_inputs(value: Any) -> int:
    """How many inputs an embeddings `input` holds: a string or one token array is one input."""
    if isinstance(value, list):
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return 1
        return len(value)
    return 1


def request_tokens(body: dict[str, Any]) -> int:
    """The estimated input tokens of one request: every string value in the body except `model`, joined
    by single spaces, at four characters a token (`estimate_tokens`), plus one token per integer inside
    an array (pre-tokenized input). Used for the enqueued-token limit and the offline summary."""
    texts: list[str] = []
    integers = 0
    todo = [v for k, v in body.items() if k != "model"]
    while todo:  # parsed JSON holds exactly these types, so `type(...) is` suffices (and is faster)
        value = todo.pop()
        kind = type(value)
        if kind is str:
            texts.append(value)
        elif kind is dict:
            todo.extend(value.values())
        elif kind is list:
            for item in value:
                if type(item) is int:  # not bool
                    integers += 1
                else:
                    todo.append(item)
    return estimate_tokens(" ".join(texts)) + integers


# -- the whole file -------------------------------------------------------------------------------
class Examined(NamedTuple):  # a tuple: cheap to send back from a worker process
    """What one line says on its own (`examine`); whether it clashes with others is the Collector's call."""

    line: int
    problem: dict[str, Any] | None = None
    custom_id: str = ""
    model: str = ""
    tokens: int = 0
    inputs: int = 0  # embedding inputs
    body: dict[str, Any] | None = None


def examine(raw: bytes, n: int, endpoint: str, keep_body: bool = True, models: Catalog = DEFAULT) -> Examined:
    """Parse and check line `n` by itself. Independent of every other line, so a big file's lines can be
    examined in several processes at once and collected afterwards."""
    try:
        obj = parse_line(raw)
    except (ValueError, RecursionError):
        return Examined(n, error("invalid_json_line", "This line is not parseable as valid JSON.", None, n))
    problem = check_line(obj, n, endpoint, models)
    if problem is not None:  # its custom_id still counts: a later line with the same one is a duplicate
        custom_id = obj.get("custom_id") if isinstance(obj, dict) else None
        return Examined(n, problem, custom_id if isinstance(custom_id, str) else "")
    body = obj["body"]
    return Examined(n, None, obj["custom_id"], body["model"], request_tokens(body),
                    embedding_inputs(body["input"]) if endpoint == catalog.EMBEDDINGS else 0,
                    body if keep_body else None)


@dataclass
class ExaminedPart:
    """Many examined lines, column by column: quick to send between processes, and `Collector.add_part`
    takes a part without a problem at C speed."""

    count: int = 0  # lines in the part, blank ones too
    lines: list[int] = field(default_factory=list)  # the non-blank lines' numbers, from 1 within the part
    custom_ids: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    problems: dict[int, dict[str, Any]] = field(default_factory=dict)  # by position in the columns

    def append(self, found: Examined) -> None:
        if found.problem is not None:
            self.problems[len(self.lines)] = found.problem
        self.lines.append(found.line)
        self.custom_ids.append(found.custom_id)
        self.models.append(found.model)
        self.tokens.append(found.tokens)
        self.inputs.append(found.inputs)

    def __iter__(self) -> Iterator[Examined]:
        for i, line in enumerate(self.lines):
            yield Examined(line, self.problems.get(i), self.custom_ids[i], self.models[i], self.tokens[i],
                           self.inputs[i])


class Collector:
    """Folds examined lines, in line order, into a Report: duplicate ids, one model per batch, the file's
    embedding-input total; every error in line order, up to MAX_ERRORS."""

    def __init__(self, endpoint: str, models: Catalog = DEFAULT, flavour: str = "openai") -> None:
        self.endpoint = endpoint
        self.models = models
        self.rules = FLAVOURS[flavour]  # the batch's surface: its limit on requests, its word for mixed models
        self.report = Report()
        self.seen: set[str] = set()
        self.model_name: str | None = None
        self.inputs = 0
        self.inputs_error: dict[str, Any] | None = None
        known = models.endpoints.get(endpoint)
        self.max_lines = self.rules.max_lines or (known.max_lines if known is not None else MAX_LINES)

    @property
    def full(self) -> bool:
        """MAX_ERRORS reached: further lines are only counted, so they need no examining."""
        return len(self.report.errors) >= MAX_ERRORS

    def add(self, found: Examined | None, before: int = 0) -> None:
        """The next non-blank line; `before`: lines of the file before the part `found` was numbered in."""
        report = self.report
        report.count += 1
        if found is None or self.full:
            return
        n, problem = found.line + before, found.problem
        if problem is not None and before:
            problem = {**problem, "line": n}
        if problem is None and found.custom_id in self.seen:
            problem = error(
                "duplicate_custom_id",
                f"The custom_id '{found.custom_id}' for this request is a duplicate of another request. "
                "The custom_id parameter must be unique for each request in a batch.", "custom_id", n)
        if problem is None:
            if self.model_name is None:
                self.model_name = found.model
            elif found.model != self.model_name and self.models[found.model] != self.models[self.model_name]:
                word = self.rules.model_word
                problem = error(
                    self.rules.mismatch_code,
                    f"The {word} '{found.model}' for this request does not match the rest of the batch. "
                    f"Each batch must contain requests for a single {word}.", "body.model", n)
        if problem is None and self.endpoint == catalog.EMBEDDINGS and self.inputs_error is None:
            self.inputs += found.inputs
            if self.inputs > MAX_EMBEDDING_INPUTS:
                problem = self.inputs_error = error(
                    "too_many_tasks",
                    "The number of embedding inputs in the input file exceeds the maximum allowed value of "
                    f"{MAX_EMBEDDING_INPUTS:,}.", "body.input", n)
        if problem is not None:
            report.errors.append(problem)
            if found.custom_id:
                self.seen.add(found.custom_id)
            return
        self.seen.add(found.custom_id)
        report.tokens += found.tokens
        report.requests.append(Request(n, found.custom_id, found.body or {}))

    def add_part(self, part: ExaminedPart, before: int = 0) -> None:
        """A part's lines, `before` lines into the file. When no line has a problem, alone or with the lines
        before, they are taken in a few set operations; else one by one."""
        ids = part.custom_ids
        if not ids:
            return
        first = self.model_name or part.models[0]
        if (part.problems or self.full or len(set(ids)) != len(ids) or not self.seen.isdisjoint(ids)
                or len({self.models[m] for m in {*part.models, first}}) > 1
                or (self.endpoint == catalog.EMBEDDINGS and self.inputs + sum(part.inputs) > MAX_EMBEDDING_INPUTS)):
            for found in part:
                self.add(found, before)
            return
        self.model_name = first
        self.inputs += sum(part.inputs)
        self.seen.update(ids)
        self.report.count += len(ids)
        self.report.tokens += sum(part.tokens)
        # The requests, made at C speed (a Python loop would take half the collecting time); their bodies were
        # not kept: each gets an empty dict of its own (`iter(dict, None)` makes a new one each time).
        rows = zip(map(before.__add__, part.lines), ids, iter(dict, None), strict=False)  # the dicts never end
        self.report.requests += map(_new_request, rows)

    def finish(self) -> Report:
        report = self.report
        if report.count == 0:
            report.errors.append(error("empty_file", "The batch input file is empty.", None, None))
        elif report.count > self.max_lines:
            report.errors.insert(0, error(
                "too_many_tasks",
                f"The number of requests in the input file exceeds the maximum allowed value of {self.max_lines:,}.",
                None, None))
        if self.model_name is not None:
            report.model = self.models[self.model_name].snapshot
        return report


def validate(lines: Iterable[bytes], endpoint: str, *, keep_bodies: bool = True,
             models: Catalog = DEFAULT, flavour: str = "openai") -> Report:
    """Check every line; collect all errors in line order (up to MAX_ERRORS), file-wide ones first."""
    collector = Collector(endpoint, models, flavour)
    for n, raw in numbered(lines):
        collector.add(None if collector.full else examine(raw, n, endpoint, keep_bodies, models))
    return collector.finish()


# -- the enqueued-token limit (checked when validation completes) ----------------------------------
QUEUED_STATUSES = ("validating", "in_progress", "finalizing")  # whose tokens count as enqueued

def token_limit(model: str, override: int | None, models: Catalog = DEFAULT) -> int | None:
    """The enqueued-token limit for a model (any of its names): the configured one, else the model's default."""
    return override if override is not None else models.limit(model)


def token_limit_error(model: str, tokens: int, enqueued: int, override: int | None,
                      models: Catalog = DEFAULT) -> dict[str, Any] | None:
    """The batch's error if its `tokens` on top of the tenant's `enqueued` ones exceed the model's limit."""
    limit = token_limit(model, override, models)
    if limit is None or enqueued + tokens <= limit:
        return None
    name = models[model].name
    return error("token_limit_exceeded",
                 f"Enqueued token limit reached for {name} in organization {ORGANIZATION}. Limit: {limit:,} "
                 "enqueued tokens. Please try again once some in_progress batches have been completed.", None, None)


# -- the create call's own parameters (answered synchronously with a 400) --------------------------
FILE_PURPOSES = ["fine-tune", "assistants", "batch", "user_data", "vision", "evals"]
OUTPUT_TTL_RANGE = (3600, 2_592_000)


def check_create(params: dict[str, Any], models: Catalog = DEFAULT) -> None:
    """Raise InvalidRequest for a `POST /v1/batches` body the real API refuses outright."""
    for name in ("input_file_id", "endpoint", "completion_window"):
        if params.get(name) is None:
            raise missing_parameter(name)
        if not isinstance(params[name], str):
            raise invalid_type(name, "a string", params[name])
    if params["endpoint"] not in models.endpoints:
        raise invalid_value(params["endpoint"], list(models.endpoints), "endpoint")
    if params["completion_window"] != "24h":
        raise invalid_value(params["completion_window"], ["24h"], "completion_window")
    check_metadata(params.get("metadata"))
    ttl = params.get("output_expires_after")
    if ttl is not None:
        check_expires_after(ttl, "output_expires_after")


def check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
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


def check_expires_after(value: Any, param: str) -> int:
    """`{"anchor": "created_at", "seconds": 3600..2592000}` (JSON bodies); returns the seconds."""
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    for key in ("anchor", "seconds"):
        if value.get(key) is None:
            raise missing_parameter(f"{param}.{key}")
    if value["anchor"] != "created_at":
        raise invalid_value(value["anchor"], ["created_at"], f"{param}.anchor")
    seconds = value["seconds"]
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise invalid_type(f"{param}.seconds", "an integer", seconds)
    check_range(seconds, *OUTPUT_TTL_RANGE, f"{param}.seconds")
    return seconds


def check_range(value: int, low: int, high: int, param: str) -> None:
    if (error := out_of_range(param, value, low, high)) is not None:
        raise error


def check_input_file(file_id: str, purpose: str, size: int, model: str | None = None) -> None:
    """The batch's input file exists; refuse one of another purpose, or one over the Batch API's 200 MB (named
    with the model of its first line, as the real API words it; without one, its older wording)."""
    if purpose != "batch":
        raise InvalidRequest(
            f"Invalid file purpose '{purpose}' for input_file_id '{file_id}': expected 'batch'.",
            param="input_file_id", code="invalid_file_purpose")
    if size > MAX_INPUT_BYTES:
        if model is None:
            raise InvalidRequest("File is too large.")
        raise InvalidRequest(f"The batch input file is larger than the {MAX_INPUT_BYTES} maximum for the {model} "
                             "model. Please try again with a smaller batch.")


def first_model(head: bytes) -> str | None:
    """The `body.model` of the first line in `head` (the start of a file), if it says one."""
    for _, raw in numbered(head.split(b"\n")[:-1] or [head]):
        try:
            line = parse_line(raw)
        except (ValueError, RecursionError):
            return None
        model = line.get("body", {}).get("model") if isinstance(line, dict) and isinstance(line.get("body"), dict) \
            else None
        return model if isinstance(model, str) else None
    return None


# -- uploads (`POST /v1/files`, `POST /v1/uploads`) -----------------------------------------------
def check_purpose(purpose: Any) -> str:
    if purpose is None or purpose == "":
        raise missing_parameter("purpose")
    if purpose not in FILE_PURPOSES:
        raise InvalidRequest(f"'{purpose}' is not one of {FILE_PURPOSES} - 'purpose'", param="purpose")
    return str(purpose)


def check_filename(filename: str, purpose: str) -> None:
    if purpose == "batch" and not filename.endswith(".jsonl"):
        raise InvalidRequest("Invalid file format for Batch API. Must be .jsonl")


# -- the offline validator's words ------------------------------------------------------------------
def check_file(filename: str, size: int) -> list[str]:
    """What the upload or the create call would refuse outright (with a 400), described."""
    problems = []
    if not filename.endswith(".jsonl"):
        problems.append("upload: Invalid file format for Batch API. Must be .jsonl (400 from POST /v1/files)")
    if size > MAX_INPUT_BYTES:
        problems.append(f"create: File is too large. (400 from POST /v1/batches: over {MAX_INPUT_BYTES:,} bytes)")
    return problems


def describe(err: dict[str, Any]) -> str:
    """`line 3: invalid_json_line: This line is not parseable as valid JSON. (param: null)`"""
    where = "file" if err["line"] is None else f"line {err['line']}"
    param = "null" if err["param"] is None else err["param"]
    return f"{where}: {err['code']}: {err['message']} (param: {param})"


def summary(report: Report, models: Catalog = DEFAULT) -> str:
    assert report.model is not None
    name = models[report.model].name
    count = len(report.requests)
    return (f"ok: {count:,} request{'s' if count != 1 else ''}, model {name} ({report.model}), "
            f"{report.tokens:,} estimated input tokens")


def check_batch_head(head: bytes, complete: bool) -> None:
    """Refuse a batch upload whose first line is not JSON, as the real API does at upload time (a later bad
    line is accepted here and fails the batch in validation). `head` is the file's start; a first line
    longer than it is left to validation."""
    for _, raw in numbered(head.split(b"\n") if complete else head.split(b"\n")[:-1]):
        try:
            parse_line(raw)
        except (ValueError, RecursionError):
            raise InvalidRequest("Invalid file format for Batch API. Must be .jsonl") from None
        return
