"""Files: uploads and batch outputs, their bytes in blobs; and the chunk-writing loop the Uploads API shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mockbatch import ids
from mockbatch.clock import Clock
from mockbatch.engine.scheduler import TERMINAL_VALUES
from mockbatch.errors import InvalidRequest, PayloadTooLarge, file_not_found, invalid_value
from mockbatch.jobs import Runner
from mockbatch.objects import BATCH_FILE_TTL, FileObject, page
from mockbatch.plan import FLAVOURS
from mockbatch.store import CHUNK, FileRow, Store
from mockbatch.validation import check_batch_head, check_filename, check_purpose

MAX_FILE_BYTES = 512 * 1024 * 1024
HIDDEN_MAX = 1_000  # files kept invisible at once (the invisible_file fault); the oldest are forgotten first


@dataclass
class Streamed:
    """A body written into a blob: its size, its first CHUNK bytes, and its last partial chunk, which the
    caller writes (`finish`) in the transaction that stores the row pointing at the blob."""

    blob: int
    size: int = 0
    head: bytes = b""
    chunks: int = 0
    rest: bytes = b""

    async def finish(self, tx: Any) -> None:
        if self.rest:
            await tx.append_chunk(self.blob, self.chunks, self.rest)


@asynccontextmanager
async def streamed(store: Store, content: AsyncIterator[bytes], limit: int,
                   too_large: Any) -> AsyncIterator[Streamed]:
    """Write `content` into a new blob a CHUNK per transaction, never holding more than a chunk; past `limit`
    bytes raise `too_large()`. Whatever fails, here or in the caller's block, deletes the blob."""
    async with store.transaction() as tx:
        s = Streamed(await tx.new_blob())
    try:
        buffer = b""
        async for data in content:
            if len(s.head) < CHUNK:
                s.head += data[: CHUNK - len(s.head)]
            s.size += len(data)
            if s.size > limit:
                raise too_large()
            buffer += data
            while len(buffer) >= CHUNK:
                async with store.transaction() as tx:
                    await tx.append_chunk(s.blob, s.chunks, buffer[:CHUNK])
                buffer, s.chunks = buffer[CHUNK:], s.chunks + 1
        s.rest = buffer
        yield s
    except BaseException:
        async with store.transaction() as tx:
            await tx.delete_blob(s.blob)
        raise


def file_too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"File is too large. The maximum size is {MAX_FILE_BYTES} bytes.", param="file")


@dataclass
class Files:
    """Files by tenant: create (streamed in), retrieve, list, delete, content."""

    store: Store
    clock: Clock
    seed: int
    runner: Runner
    _hidden: dict[tuple[str, str], float] = field(default_factory=dict, init=False)  # -> when visible again

    async def create(self, tenant: str, filename: str, purpose: Any, content: AsyncIterator[bytes],
                     expires_after: dict[str, Any] | None = None, flavour: str = "openai") -> dict[str, Any]:
        """A file uploaded through the surface of `flavour`, whose rules bound its `expires_after`."""
        purpose = check_purpose(purpose)
        check_filename(filename, purpose)  # purpose batch: a .jsonl file
        ttl = file_ttl(expires_after, FLAVOURS[flavour].file_ttl)
        async with streamed(self.store, content, MAX_FILE_BYTES, file_too_large) as s:
            if purpose == "batch":
                check_batch_head(s.head, complete=s.size == len(s.head))
            async with self.store.transaction() as tx:
                await s.finish(tx)
                seq = await tx.next_seq()
                now = int(self.clock.now())
                if ttl is None and purpose == "batch":
                    ttl = BATCH_FILE_TTL
                row = FileRow(ids.file_id(self.seed, seq), tenant, s.blob, s.size, now,
                              None if ttl is None else now + ttl, filename, purpose)
                await tx.insert_file(seq, row)
        return file_object(row)

    def expect_upload(self, size: int) -> None:
        """An upload of about `size` bytes begins: if big, start the worker processes while it arrives (they
        take a few tenths of a second to start), so they are ready when its batch is validated."""
        self.runner.expect(size)

    async def retrieve(self, tenant: str, file_id: str) -> dict[str, Any]:
        async with self.store.read() as tx:
            row = await tx.get_file(tenant, file_id)
        if row is None:
            raise file_not_found(file_id)
        return file_object(row)

    async def list(self, tenant: str, purpose: str | None, after: str | None, limit: int,
                   order: str) -> dict[str, Any]:
        async with self.store.read() as tx:
            rows = await tx.list_files(tenant, purpose, after, limit + 1, ascending=order == "asc")
        return page([file_object(r) for r in rows[:limit]], has_more=len(rows) > limit)

    async def delete(self, tenant: str, file_id: str) -> dict[str, Any]:
        async with self.store.transaction() as tx:
            row = await tx.get_file(tenant, file_id)
            if row is None:
                raise file_not_found(file_id)
            if await tx.file_in_use(file_id, TERMINAL_VALUES):
                await tx.mark_file_deleted(file_id)  # an in-flight batch still reads it; purged when it ends
            else:
                await tx.delete_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    async def content(self, tenant: str, file_id: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        async with self.store.read() as tx:
            row = await tx.get_file(tenant, file_id)
        if row is None:
            raise file_not_found(file_id)
        return file_object(row), self.store.read_blob(row.blob_id)

    # -- the invisible_file fault: a just-uploaded file batches.create cannot see yet --------------------
    def hide(self, tenant: str, file_id: str, seconds: float) -> None:
        now = self.clock.now()
        self._hidden = {k: t for k, t in self._hidden.items() if t > now}  # the ones visible again are dropped
        while len(self._hidden) >= HIDDEN_MAX:
            del self._hidden[next(iter(self._hidden))]
        self._hidden[(tenant, file_id)] = now + seconds

    def hidden(self, tenant: str, file_id: str) -> bool:
        return self._hidden.get((tenant, file_id), float("-inf")) > self.clock.now()

    def forget_hidden(self) -> None:
        self._hidden.clear()


def file_ttl(expires_after: dict[str, Any] | None, ttl_range: tuple[int, int] = FLAVOURS["openai"].file_ttl
             ) -> int | None:
    """The seconds of a multipart upload's `expires_after` (bracket fields arrive as strings), within
    `ttl_range` (inclusive)."""
    if not expires_after:
        return None
    if expires_after.get("anchor") != "created_at":
        raise invalid_value(expires_after.get("anchor"), ["created_at"], "expires_after.anchor")
    try:
        seconds = int(expires_after.get("seconds"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidRequest("Invalid 'expires_after.seconds': expected an integer.",
                             param="expires_after.seconds", code="invalid_type") from None
    low, high = ttl_range
    if not low <= seconds <= high:
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': expected a value between {low} and {high}, but got {seconds} instead.",
            param="expires_after.seconds", code="invalid_value")
    return seconds


def file_object(row: FileRow) -> dict[str, Any]:
    return FileObject(row.id, row.bytes, row.created_at, row.filename, row.purpose, row.expires_at).to_dict()
