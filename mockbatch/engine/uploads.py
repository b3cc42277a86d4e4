"""The Uploads API: a big file sent in parts, put together into one File on completion.

Each part is written straight into its own blob as it streams in. Completing renumbers the parts'
chunk rows into one blob inside SQLite, so no part is ever held in memory; an `md5` is checked by
streaming the parts in a worker thread. An upload left pending expires an hour (virtual time) after
creation, and its parts are dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from mockbatch import ids
from mockbatch.clock import Clock
from mockbatch.engine.files import file_object, streamed
from mockbatch.errors import InvalidRequest, NotFound, PayloadTooLarge, invalid_type, missing_parameter
from mockbatch.objects import BATCH_FILE_TTL
from mockbatch.store import BlobIO, FileRow, PartRow, Store, UploadRow
from mockbatch.validation import check_expires_after, check_filename, check_purpose, check_range

UPLOAD_TTL = 3600
MAX_UPLOAD_BYTES = 8 * 1024 ** 3
MAX_PART_BYTES = 64 * 1024 ** 2


def upload_not_found(upload_id: str) -> NotFound:
    return NotFound(f"No such Upload object: {upload_id}", param="upload_id")


class Uploads:
    def __init__(self, store: Store, clock: Clock, seed: int) -> None:
        self.store = store
        self.clock = clock
        self.seed = seed

    async def create(self, tenant: str, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("bytes", "filename", "mime_type", "purpose"):
            if params.get(name) is None:
                raise missing_parameter(name)
        size = params["bytes"]
        if not isinstance(size, int) or isinstance(size, bool):
            raise invalid_type("bytes", "an integer", size)
        check_range(size, 0, MAX_UPLOAD_BYTES, "bytes")
        for name in ("filename", "mime_type"):
            if not isinstance(params[name], str):
                raise invalid_type(name, "a string", params[name])
        purpose = check_purpose(params["purpose"])
        check_filename(params["filename"], purpose)
        ttl = params.get("expires_after")
        file_ttl = None if ttl is None else check_expires_after(ttl, "expires_after")
        async with self.store.transaction() as tx:
            now = int(self.clock.now())
            await tx.expire_uploads(now)
            seq = await tx.next_seq()
            row = UploadRow(ids.upload_id(self.seed, seq), tenant, params["filename"], purpose, size,
                            params["mime_type"], now, now + UPLOAD_TTL, "pending", file_ttl)
            await tx.insert_upload(seq, row)
        return _upload_object(row)

    async def require_pending(self, tenant: str, upload_id: str, action: str) -> UploadRow:
        """The upload, if it still takes parts (checked before a part's body is read, and again after)."""
        async with self.store.transaction() as tx:
            await tx.expire_uploads(self.clock.now())
            row = await tx.get_upload(tenant, upload_id)
        if row is None:
            raise upload_not_found(upload_id)
        if row.status != "pending":
            raise InvalidRequest(f"Cannot {action} an Upload with status '{row.status}'.")
        return row

    async def add_part(self, tenant: str, upload_id: str, content: AsyncIterator[bytes]) -> dict[str, Any]:
        await self.require_pending(tenant, upload_id, "add a Part to")
        async with streamed(self.store, content, MAX_PART_BYTES, part_too_large) as s, \
                self.store.transaction() as tx:
            now = int(self.clock.now())
            await tx.expire_uploads(now)
            row = await tx.get_upload(tenant, upload_id)
            if row is None:  # wiped meanwhile
                raise upload_not_found(upload_id)
            if row.status != "pending":
                raise InvalidRequest(f"Cannot add a Part to an Upload with status '{row.status}'.")
            if await tx.parts_bytes(upload_id) + s.size > MAX_UPLOAD_BYTES:
                raise InvalidRequest(f"Upload {upload_id} would exceed the maximum of {MAX_UPLOAD_BYTES} bytes.",
                                     param="data")
            await s.finish(tx)
            seq = await tx.next_seq()
            part = PartRow(ids.part_id(self.seed, seq), upload_id, s.blob, s.size, now)
            await tx.insert_part(seq, part)
        return {"id": part.id, "object": "upload.part", "created_at": part.created_at, "upload_id": upload_id}

    async def complete(self, tenant: str, upload_id: str, params: dict[str, Any]) -> dict[str, Any]:
        part_ids = params.get("part_ids")
        if part_ids is None:
            raise missing_parameter("part_ids")
        if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
            raise invalid_type("part_ids", "an array of strings", part_ids)
        md5 = params.get("md5")
        if md5 is not None and not isinstance(md5, str):
            raise invalid_type("md5", "a string", md5)
        upload = await self.require_pending(tenant, upload_id, "complete")
        async with self.store.transaction() as tx:
            parts = {p.id: p for p in await tx.get_parts(upload_id)}
        chosen = _ordered(parts, part_ids, upload_id)
        seen = set(part_ids)
        total = sum(p.bytes for p in chosen)
        if total != upload.bytes:
            raise InvalidRequest(
                f"The Parts of Upload {upload_id} hold {total} bytes, but the Upload was created with bytes="
                f"{upload.bytes}.", param="part_ids")
        if md5 is not None:
            digest = await asyncio.to_thread(_md5, self.store.path, [p.blob_id for p in chosen])
            if digest != md5.lower():
                raise InvalidRequest(
                    f"The md5 checksum of the uploaded bytes ({digest}) does not match the md5 provided ({md5}).",
                    param="md5")
        async with self.store.transaction() as tx:
            row = await tx.get_upload(tenant, upload_id)
            now = int(self.clock.now())
            if row is None:
                raise upload_not_found(upload_id)
            if row.status == "pending" and row.expires_at <= now:
                await tx.expire_uploads(now)
                row.status = "expired"
            if row.status != "pending":
                raise InvalidRequest(f"Cannot complete an Upload with status '{row.status}'.")
            current = await tx.get_parts(upload_id)
            blob = await tx.concat_blobs([p.blob_id for p in chosen]) if chosen else await tx.new_blob()
            await tx.forget_parts(upload_id)
            for p in current:
                if p.id not in seen:  # uploaded but left out: dropped
                    await tx.delete_blob(p.blob_id)
            seq = await tx.next_seq()
            ttl = row.file_ttl or (BATCH_FILE_TTL if row.purpose == "batch" else None)
            f = FileRow(ids.file_id(self.seed, seq), tenant, blob, total, now, None if ttl is None else now + ttl,
                        row.filename, row.purpose)
            await tx.insert_file(seq, f)
            await tx.set_upload_status(upload_id, "completed", f.id)
            row.status, row.file_id = "completed", f.id
        return _upload_object(row, f)

    async def cancel(self, tenant: str, upload_id: str) -> dict[str, Any]:
        async with self.store.transaction() as tx:
            await tx.expire_uploads(self.clock.now())
            row = await tx.get_upload(tenant, upload_id)
            if row is None:
                raise upload_not_found(upload_id)
            if row.status == "pending":
                await tx.set_upload_status(upload_id, "cancelled")
                await tx.delete_parts(upload_id)
                row.status = "cancelled"
            elif row.status != "cancelled":
                raise InvalidRequest(f"Cannot cancel an Upload with status '{row.status}'.")
        return _upload_object(row)


def part_too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"Part is too large. The maximum size of a Part is {MAX_PART_BYTES} bytes.", param="data")


def _ordered(parts: dict[str, PartRow], part_ids: list[str], upload_id: str) -> list[PartRow]:
    chosen = []
    seen: set[str] = set()
    for part_id in part_ids:
        if part_id in seen:
            raise InvalidRequest(f"Part {part_id} is listed more than once.", param="part_ids")
        seen.add(part_id)
        if part_id not in parts:
            raise InvalidRequest(f"Part {part_id} was not found in Upload {upload_id}.", param="part_ids")
        chosen.append(parts[part_id])
    return chosen


def _md5(db_path: str, blob_ids: list[int]) -> str:
    """The md5 of the blobs one after another, read a chunk at a time (a worker thread's own connection)."""
    digest = hashlib.md5(usedforsecurity=False)
    io = BlobIO(db_path)
    try:
        for blob_id in blob_ids:
            for data in io.chunks(blob_id):
                digest.update(data)
    finally:
        io.close()
    return digest.hexdigest()


def _upload_object(row: UploadRow, file: FileRow | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "upload",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "expires_at": row.expires_at,
        "file": None if file is None else file_object(file),
    }
