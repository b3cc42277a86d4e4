"""Anthropic's Message Batches on the shared engine: create, retrieve, list, cancel, delete and results.

A Message Batch is an ordinary batch row run by the same Scheduler, jobs and scenarios:
  * create checks what Anthropic checks at once (the request list, `custom_id`s, size) and writes the inline requests
    as a JSONL input file, one line `{"custom_id", "method": "POST", "url": "/v1/messages", "body": ...}` a request
    (the body: catalog.BATCH_MODEL's wrapper, see mockbatch/generators/messages.py); the file is internal (no files
    API on this surface reaches it);
  * its tenant is the API key in a namespace of its own (TENANT), so OpenAI's lists and files never show a Message
    Batch and Anthropic's never show OpenAI's, whatever keys the clients use;
  * the row's wire object is OpenAI's batch (the scheduler keeps it), plus a `message_batch` key with what Anthropic's
    object needs besides (the number of requests, exact times, a deletion mark); `view` renders it as a
    `message_batch`;
  * results stream the output and error files, each line converted to Anthropic's result line as it is read.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mockbatch import ids
from mockbatch.catalog import BATCH_MODEL, MESSAGES, Catalog
from mockbatch.clock import Clock
from mockbatch.engine.batches import Batches
from mockbatch.engine.files import streamed
from mockbatch.engine.scenario import ActiveScenario
from mockbatch.engine.scheduler import TERMINAL_VALUES, Scheduler
from mockbatch.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge, anthropic_envelope
from mockbatch.lifecycle import Progress, Validated
from mockbatch.objects import Batch
from mockbatch.store import BatchRow, FileRow, Store

TENANT = "anthropic\n"  # + the API key: a newline no header value can hold keeps the namespaces apart
MAX_BYTES = 256 * 1024 * 1024  # Anthropic's limit on a create request's body
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
RESULTS_TTL = 29 * 24 * 3600  # results stay downloadable 29 days after creation
PIECE = 1 << 16  # bytes of input lines written at once
PAGE = 500  # rows read at a time while listing
_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode  # as json.dumps(..., same options)
_LINE_MIDDLE = f'"method":"POST","url":"{MESSAGES}","body":{{"model":"{BATCH_MODEL}","params":'  # a line after its id

STATUS = {"validating": "in_progress", "in_progress": "in_progress", "finalizing": "in_progress",
          "cancelling": "canceling", "completed": "ended", "expired": "ended", "cancelled": "ended", "failed": "ended"}
def rfc3339(t: float) -> str:
    """A (virtual) unix time as Anthropic writes times: `2024-09-24T18:37:24.100435Z`."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def not_found(batch_id: str) -> NotFound:
    return NotFound(f"No message batch found with id '{batch_id}'.")


def request_too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"Request exceeds the maximum allowed size of {MAX_BYTES} bytes for a Message Batch.")


def results_path(batch_id: str) -> str:
    return f"/v1/messages/batches/{batch_id}/results"


def check_requests(body: dict[str, Any], max_lines: int) -> list[dict[str, Any]]:
    """The create call's `requests`, as Anthropic checks them at once (its `params` are checked when each runs);
    `max_lines`: the Messages endpoint's limit (catalog.MESSAGES_ENDPOINT: Anthropic's 100,000)."""
    requests = body.get("requests")
    if requests is None:
        raise InvalidRequest("requests: Field required")
    if not isinstance(requests, list):
        raise InvalidRequest("requests: Input should be a valid list")
    if not requests:
        raise InvalidRequest("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > max_lines:
        raise InvalidRequest(f"requests: List should have at most {max_lines} items after validation, not "
                             f"{len(requests)}")
    seen: set[str] = set()
    for i, r in enumerate(requests):
        where = f"requests.{i}"
        if not isinstance(r, dict):
            raise InvalidRequest(f"{where}: Input should be a valid dictionary")
        custom_id = r.get("custom_id")
        if custom_id is None:
            raise InvalidRequest(f"{where}.custom_id: Field required")
        if not isinstance(custom_id, str):
            raise InvalidRequest(f"{where}.custom_id: Input should be a valid string")
        if len(custom_id) > 64:
            raise InvalidRequest(f"{where}.custom_id: String should have at most 64 characters")
        if not CUSTOM_ID.fullmatch(custom_id):
            raise InvalidRequest(f"{where}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if custom_id in seen:
            raise InvalidRequest(f"{where}.custom_id: Duplicate custom_id '{custom_id}': each request in a batch "
                                 "must have a unique custom_id.")
        seen.add(custom_id)
        if r.get("params") is None:
            raise InvalidRequest(f"{where}.params: Field required")
        if not isinstance(r["params"], dict):
            raise InvalidRequest(f"{where}.params: Input should be a valid dictionary")
    return requests


@dataclass
class MessageBatches:
    store: Store
    clock: Clock
    seed: int
    scheduler: Scheduler
    batches: Batches
    scenario: ActiveScenario
    models: Catalog  # the engine's table: with the Messages endpoint and the Claude models

    # -- create ---------------------------------------------------------------------------------------------------
    def _served(self, name: Any) -> dict[str, Any] | None:
        """The Claude model a request names, as its line carries it (None: no such model, an `errored` result)."""
        model = self.models.lookup(name, MESSAGES) if isinstance(name, str) and name != BATCH_MODEL else None
        if model is None:
            return None
        return {"model": model.snapshot, "thinking": model.reasoning, "max_output": model.max_output}

    def _lines(self, requests: list[dict[str, Any]]) -> Iterator[bytes]:
        """The input file's lines, in pieces of about PIECE bytes: each line as `json.dumps` of
        `{"custom_id", "method", "url", "body": {"model", "params", "served"}}` would write it, made faster: only the
        `params` go through the (one, reused) encoder; the custom_id needs no escaping (check_requests matched it to
        CUSTOM_ID) and each model's `served` is encoded once."""
        served: dict[str, str] = {}
        piece: list[str] = []
        size = 0
        for r in requests:
            params = r["params"]
            name = params.get("model")
            if isinstance(name, str):
                if name not in served:
                    served[name] = _ENCODE(self._served(name))
                found = served[name]
            else:
                found = "null"
            try:
                line = f'{{"custom_id":"{r["custom_id"]}",{_LINE_MIDDLE}{_ENCODE(params)},"served":{found}}}}}\n'
            except ValueError:
                raise InvalidRequest("The request body is not valid JSON: it holds a number out of range.") from None
            piece.append(line)
            size += len(line)
            if size >= PIECE:
                yield "".join(piece).encode("utf-8", "surrogatepass")
                piece, size = [], 0
        if piece:
            yield "".join(piece).encode("utf-8", "surrogatepass")

    async def create(self, key: str, body: dict[str, Any], scenario: str | None = None) -> dict[str, Any]:
        # Checking and writing 100,000 requests takes a few tenths of a second of Python: done in a thread, so the
        # event loop goes on answering meanwhile (it gets the interpreter back every few milliseconds).
        requests = await asyncio.to_thread(check_requests, body, self.models.endpoints[MESSAGES].max_lines)
        tenant = TENANT + key
        plan = self.scenario.plan(None, scenario)

        async def content() -> AsyncIterator[bytes]:
            lines = self._lines(requests)
            while (piece := await asyncio.to_thread(next, lines, None)) is not None:
                yield piece

        async with (streamed(self.store, content(), 2 * MAX_BYTES, request_too_large) as s,
                    self.store.transaction() as tx):
            await s.finish(tx)
            now = self.clock.now()
            file_seq, seq = await tx.next_seq(), await tx.next_seq()
            batch_id = ids.message_batch_id(self.seed, seq)
            f = FileRow(ids.file_id(self.seed, file_seq), tenant, s.blob, s.size, int(now), int(now) + RESULTS_TTL,
                        f"{batch_id}_requests.jsonl", "batch")
            await tx.insert_file(file_seq, f)
            batch = Batch(batch_id, MESSAGES, f.id, int(now), int(now) + int(plan.window))
            wire = batch.to_dict()
            wire["message_batch"] = {"requests": len(requests), "created": now, "expires": now + plan.window,
                                     "deleted": False}
            progress = Progress(created=now, output_ttl=RESULTS_TTL, input_blob=s.blob)
            if plan.fail_errors is not None:  # the scenario fails the batch: every request is errored
                progress.validated = Validated(0, None, list(plan.fail_errors))
            await tx.insert_batch(seq, BatchRow(batch_id, tenant, batch.status, wire, progress.to_dict(),
                                                plan.to_dict()))
        row = await self.scheduler.settle(batch_id, tenant)
        return view(await self.batches.view(row))

    # -- reading ---------------------------------------------------------------------------------------------------
    async def _row(self, tenant: str, batch_id: str, settle: bool = True) -> BatchRow:
        """The batch (404 for another tenant's, OpenAI's, or a deleted one), moved on to now unless `settle` is
        false (for a caller that hands it to `Batches`, which moves it on itself)."""
        async with self.store.read() as tx:
            row = await tx.get_batch(batch_id, tenant)
        if row is None or "message_batch" not in row.batch or row.batch["message_batch"].get("deleted"):
            raise not_found(batch_id)
        if settle and row.status not in TERMINAL_VALUES:
            row = await self.scheduler.settle(batch_id, tenant)
        return row

    async def retrieve(self, key: str, batch_id: str) -> dict[str, Any]:
        await self._row(TENANT + key, batch_id, settle=False)
        return view(await self.batches.retrieve(TENANT + key, batch_id))  # a retrieve is a poll (scenario phases)

    async def list(self, key: str, before: str | None, after: str | None, limit: int,
                   stale: float = 0.0) -> dict[str, Any]:
        """Newest first. `after_id`: the page of older batches after it; `before_id`: the page of newer ones right
        before it (in the same newest-first order). With `stale`, each as it looked that long ago."""
        tenant = TENANT + key
        if before and after:
            raise InvalidRequest("Only one of before_id and after_id may be given.")
        if before:
            newer: deque[BatchRow] = deque(maxlen=limit + 1)
            found = False
            async for row in self._rows(tenant, None):
                if row.id == before:
                    found = True
                    break
                newer.append(row)
            rows = list(newer)[-limit:] if found else []
            more = found and len(newer) > limit
        else:
            rows = []
            async for row in self._rows(tenant, after):
                rows.append(row)
                if len(rows) > limit:
                    break
            rows, more = rows[:limit], len(rows) > limit
        data = []
        for row in rows:
            if row.status not in TERMINAL_VALUES:
                row = await self.scheduler.settle(row.id, tenant)
            data.append(view(self.batches.as_of(row.id, await self.batches.view(row), stale)))
        return {"data": data, "has_more": more, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}

    async def _rows(self, tenant: str, after: str | None) -> AsyncIterator[BatchRow]:
        """The tenant's Message Batches, newest first, after `after`; deleted ones skipped."""
        while True:
            async with self.store.read() as tx:
                chunk = await tx.list_batches(tenant, after, PAGE)
            for row in chunk:
                if "message_batch" in row.batch and not row.batch["message_batch"].get("deleted"):
                    yield row
            if len(chunk) < PAGE:
                return
            after = chunk[-1].id

    # -- changing ---------------------------------------------------------------------------------------------------
    async def cancel(self, key: str, batch_id: str) -> dict[str, Any]:
        await self._row(TENANT + key, batch_id, settle=False)
        try:
            return view(await self.batches.cancel(TENANT + key, batch_id))
        except Conflict:
            raise InvalidRequest(f"Message batch '{batch_id}' has already ended and cannot be canceled.") from None

    async def delete(self, key: str, batch_id: str) -> dict[str, Any]:
        tenant = TENANT + key
        row = await self._row(tenant, batch_id)
        if STATUS[row.status] != "ended":
            raise InvalidRequest(f"Message batch '{batch_id}' cannot be deleted while it is processing: cancel it "
                                 "first, and delete it once it has ended.")
        async with self.store.transaction() as tx:
            row = await tx.get_batch(batch_id, tenant)
            if row is None or row.batch["message_batch"].get("deleted"):
                raise not_found(batch_id)
            row.batch["message_batch"]["deleted"] = True
            await tx.update_batch(row)
            for field in ("input_file_id", "output_file_id", "error_file_id"):
                if row.batch.get(field):
                    await tx.delete_file(row.batch[field])
        return {"id": batch_id, "type": "message_batch_deleted"}

    # -- results ------------------------------------------------------------------------------------------------------
    async def results(self, key: str, batch_id: str) -> AsyncIterator[bytes]:
        """The result lines, streamed (the files are read chunk by chunk and converted line by line)."""
        tenant = TENANT + key
        row = await self._row(tenant, batch_id)
        if STATUS[row.status] != "ended":
            raise InvalidRequest(f"Message batch '{batch_id}' is still processing: its results are available once "
                                 "it has ended (`results_url` is set then).")
        b = row.batch
        blobs = []
        async with self.store.read() as tx:
            for field in ("output_file_id", "error_file_id"):
                f = await tx.get_file(tenant, b[field]) if b.get(field) else None
                if f is not None:
                    blobs.append(f.blob_id)
            source = await tx.get_file(tenant, b["input_file_id"])
        if not blobs:  # it never ran (failed, or cancelled before in_progress): every request gets the same result
            if source is None:
                return _empty()
            if row.status == "failed":
                problem = ((b.get("errors") or {}).get("data") or [{}])[0]
                status = 500 if problem.get("code") == "server_error" else 400
                result = {"type": "errored", "error": anthropic_envelope(status, problem.get("message") or "Failed.")}
            else:
                result = {"type": "expired" if row.status == "expired" else "canceled"}
            return _convert([source.blob_id], self.store, lambda line: {"custom_id": line["custom_id"],
                                                                          "result": result})
        return _convert(blobs, self.store, result_line)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


async def _convert(blobs: list[int], store: Store, convert: Any) -> AsyncIterator[bytes]:
    """Every line of the blobs, converted, as JSON Lines a chunk (CHUNK bytes of input) at a time; plain `\n` endings
    and no blank line (the SDK's JSONL decoder takes nothing else). Each chunk is converted in a thread: 100,000
    result lines are seconds of Python that the event loop must not wait behind."""
    for blob in blobs:
        rest = b""
        async for chunk in store.read_blob(blob):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            if piece := await asyncio.to_thread(_converted, lines, convert):
                yield piece
        if rest.strip():
            yield _converted([rest], convert)


def _converted(lines: list[bytes], convert: Any) -> bytes:
    return b"".join(json.dumps(convert(json.loads(raw)), separators=(",", ":")).encode() + b"\n"
                    for raw in lines if raw.strip())


def result_line(line: dict[str, Any]) -> dict[str, Any]:
    """An output or error file's line as Anthropic's result line."""
    response, error = line.get("response"), line.get("error") or {}
    if response is None:  # never ran
        kind = {"batch_expired": "expired", "batch_cancelled": "canceled"}.get(error.get("code"))
        result = {"type": kind} if kind else {
            "type": "errored", "error": anthropic_envelope(500, error.get("message") or "Internal server error")}
        return {"custom_id": line["custom_id"], "result": result}
    status, body = response["status_code"], response.get("body")
    if 200 <= status < 300:
        return {"custom_id": line["custom_id"], "result": {"type": "succeeded", "message": body}}
    if not (isinstance(body, dict) and body.get("type") == "error"):  # a scenario's rule, a line the server failed
        inner = body.get("error") if isinstance(body, dict) else None
        message = inner.get("message") if isinstance(inner, dict) else None
        body = anthropic_envelope(status, message if isinstance(message, str) else f"Error {status}.")
    return {"custom_id": line["custom_id"], "result": {"type": "errored", "error": body}}


def view(b: dict[str, Any]) -> dict[str, Any]:
    """The shared batch row's wire object as Anthropic's `message_batch` (`results_url` as a path: the HTTP layer
    makes it absolute, from the request's own base URL)."""
    mb = b["message_batch"]
    status = b["status"]
    n = mb["requests"]
    counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    ended = STATUS[status] == "ended"
    if ended:  # Anthropic counts only once the whole batch has ended
        done = b["request_counts"].get("completed", 0)
        failed = n if status == "failed" else b["request_counts"].get("failed", 0)
        never = n - done - failed
        counts = {"processing": 0, "succeeded": done, "errored": failed + (never if status == "completed" else 0),
                  "canceled": never if status == "cancelled" else 0, "expired": never if status == "expired" else 0}
    ended_at = b.get(f"{status}_at") if ended else None
    cancelled = b.get("cancelling_at") or (b.get("cancelled_at") if status == "cancelled" else None)
    return {
        "id": b["id"],
        "type": "message_batch",
        "processing_status": STATUS[status],
        "request_counts": counts,
        "ended_at": rfc3339(ended_at) if ended_at is not None else None,
        "created_at": rfc3339(mb["created"]),
        "expires_at": rfc3339(mb["expires"]),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(cancelled) if cancelled is not None else None,
        "results_url": results_path(b["id"]) if ended else None,
    }
