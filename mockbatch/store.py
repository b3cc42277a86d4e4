"""All state, in SQLite. The only module that speaks SQL.

`Store` is the server's async side: one aiosqlite connection guarded by one asyncio.Lock, every unit
of work an explicit `BEGIN IMMEDIATE` transaction. `BlobIO` is the worker threads' side: its own
sqlite3 connection, used to stream big file contents in and out without touching the event loop.

File contents live in `chunks` of at most CHUNK bytes under a `blobs` row; a file row points at a
blob, so output written by a worker becomes a file by one small update, and blobs nobody points at
(left by a crash mid-write) are swept at start-up.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from mockbatch.errors import StorageFull

CHUNK = 1 << 20

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS chunks (
    blob_id INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (blob_id, n));
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, tenant TEXT NOT NULL, blob_id INTEGER NOT NULL,
    bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER, filename TEXT NOT NULL,
    purpose TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS files_by_tenant ON files (tenant, deleted, seq);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, tenant TEXT NOT NULL, status TEXT NOT NULL,
    batch TEXT NOT NULL, progress TEXT NOT NULL, plan TEXT NOT NULL, outcomes BLOB);
CREATE INDEX IF NOT EXISTS batches_by_tenant ON batches (tenant, seq);
CREATE INDEX IF NOT EXISTS batches_by_status ON batches (status);
"""
UPLOADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, tenant TEXT NOT NULL, filename TEXT NOT NULL,
    purpose TEXT NOT NULL, bytes INTEGER NOT NULL, mime_type TEXT NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, status TEXT NOT NULL, file_ttl INTEGER, file_id TEXT);
CREATE INDEX IF NOT EXISTS uploads_by_status ON uploads (status, expires_at);
CREATE TABLE IF NOT EXISTS upload_parts (
    seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, upload_id TEXT NOT NULL, blob_id INTEGER NOT NULL,
    bytes INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS upload_parts_by_upload ON upload_parts (upload_id);
CREATE INDEX IF NOT EXISTS upload_parts_by_blob ON upload_parts (blob_id);
"""
WEBHOOKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, tenant TEXT NOT NULL, endpoint TEXT NOT NULL,
    secret TEXT NOT NULL, old_secret TEXT, old_secret_until REAL);
CREATE INDEX IF NOT EXISTS webhook_endpoints_by_tenant ON webhook_endpoints (tenant, seq);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL,
    tenant TEXT NOT NULL, endpoint_id TEXT, url TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
    state TEXT NOT NULL, next_at REAL, fault TEXT, attempts TEXT NOT NULL DEFAULT '[]', test INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_at) WHERE next_at IS NOT NULL;
"""
# Append-only: migration N brings a database from user_version N-1 to N.
MIGRATIONS: tuple[str, ...] = (SCHEMA, UPLOADS_SCHEMA, WEBHOOKS_SCHEMA)

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=10000")


@dataclass
class FileRow:
    id: str
    tenant: str
    blob_id: int
    bytes: int
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    deleted: bool = False


class BatchRow:
    """A batches row. `progress` and `plan` may come as JSON text, parsed when first used: retrieving a
    finished batch, the hottest read there is, needs neither."""

    def __init__(self, id: str, tenant: str, status: str, batch: dict[str, Any],
                 progress: dict[str, Any] | str, plan: dict[str, Any] | str) -> None:
        self.id, self.tenant, self.status, self.batch = id, tenant, status, batch
        self._progress, self._plan = progress, plan

    @property
    def progress(self) -> dict[str, Any]:
        if isinstance(self._progress, str):
            self._progress = json.loads(self._progress)
        return self._progress

    @progress.setter
    def progress(self, value: dict[str, Any]) -> None:
        self._progress = value

    @property
    def plan(self) -> dict[str, Any]:
        if isinstance(self._plan, str):
            self._plan = json.loads(self._plan)
        return self._plan


_FILE_COLS = "id, tenant, blob_id, bytes, created_at, expires_at, filename, purpose, deleted"
_BATCH_COLS = "id, tenant, status, batch, progress, plan"


def _file(row: Any) -> FileRow:
    return FileRow(*row[:8], deleted=bool(row[8]))


def _batch(row: Any) -> BatchRow:
    return BatchRow(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])


@dataclass
class UploadRow:
    id: str
    tenant: str
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    created_at: int
    expires_at: int
    status: str  # pending, completed, cancelled, expired
    file_ttl: int | None = None  # `expires_after.seconds` for the file the upload becomes
    file_id: str | None = None


@dataclass
class PartRow:
    id: str
    upload_id: str
    blob_id: int
    bytes: int
    created_at: int


@dataclass
class EndpointRow:
    """A webhook endpoint: its wire object (without the secret), its signing secret, and the one it replaced while
    that may still sign (until `old_secret_until`, virtual time)."""

    id: str
    tenant: str
    endpoint: dict[str, Any]
    secret: str
    old_secret: str | None = None
    old_secret_until: float | None = None


@dataclass
class DeliveryRow:
    """One event's delivery to one endpoint (`endpoint_id` None: the one configured at start). `state`: pending or
    held (attempted at `next_at`), delivered, failed (given up), dropped (a fault). `attempts`: one dict each."""

    id: str  # the webhook-id header; a duplicate delivery shares it
    event_id: str
    event_type: str
    tenant: str
    endpoint_id: str | None
    url: str
    body: bytes
    created_at: float
    state: str
    next_at: float | None
    fault: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    test: bool = False  # a sample sent by `webhooks.test`, not a batch's event
    seq: int | None = None  # given by the table


_ENDPOINT_COLS = "id, tenant, endpoint, secret, old_secret, old_secret_until"
_DELIVERY_COLS = ("id, event_id, event_type, tenant, endpoint_id, url, body, created_at, state, next_at, fault, "
                  "attempts, test")


def _endpoint(row: Any) -> EndpointRow:
    return EndpointRow(row[0], row[1], json.loads(row[2]), *row[3:])


def _delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(*row[:6], bytes(row[6]), *row[7:10], json.loads(row[10]) if row[10] else None,
                       json.loads(row[11]), bool(row[12]), seq=row[13])


_UPLOAD_COLS = "id, tenant, filename, purpose, bytes, mime_type, created_at, expires_at, status, file_ttl, file_id"
_PART_COLS = "id, upload_id, blob_id, bytes, created_at"


class Tx:
    """The statements of one transaction; only valid inside `Store.transaction()`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self.committed: list[Callable[[], None]] = []  # called once the transaction has committed

    def on_commit(self, call: Callable[[], None]) -> None:
        self.committed.append(call)

    # One round trip to the connection's thread per query (a cursor's fetch and close would cost two more).
    async def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        rows = await self.db.execute_fetchall(sql, args)
        return rows[0] if rows else None

    async def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return list(await self.db.execute_fetchall(sql, args))

    # -- meta ---------------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else row[0]

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                              (key, value, value))

    async def next_seq(self, counter: str = "seq") -> int:
        """The next number of a sequence (`seq`: files, batches, uploads; others count apart, so that adding
        webhooks changes no file or batch id)."""
        seq = int(await self.get_meta(counter) or 0) + 1
        await self.set_meta(counter, str(seq))
        return seq

    # -- files --------------------------------------------------------------------------------
    async def insert_file(self, seq: int, f: FileRow) -> None:
        await self.db.execute(
            f"INSERT INTO files (seq, {_FILE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, f.id, f.tenant, f.blob_id, f.bytes, f.created_at, f.expires_at, f.filename, f.purpose, 0))

    async def get_file(self, tenant: str, file_id: str, *, include_deleted: bool = False) -> FileRow | None:
        row = await self._one(f"SELECT {_FILE_COLS} FROM files WHERE id = ? AND tenant = ?", (file_id, tenant))
        if row is None or (row[8] and not include_deleted):
            return None
        return _file(row)

    async def list_files(self, tenant: str, purpose: str | None, after: str | None, limit: int,
                         ascending: bool) -> list[FileRow]:
        sql = f"SELECT {_FILE_COLS} FROM files WHERE tenant = ? AND deleted = 0"
        args: list[Any] = [tenant]
        if purpose is not None:
            sql += " AND purpose = ?"
            args.append(purpose)
        if after is not None:
            cmp = ">" if ascending else "<"
            sql += f" AND seq {cmp} (SELECT seq FROM files WHERE id = ? AND tenant = ?)"
            args += [after, tenant]
        sql += f" ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?"
        args.append(limit)
        return [_file(r) for r in await self._all(sql, tuple(args))]

    async def mark_file_deleted(self, file_id: str) -> None:
        await self.db.execute("UPDATE files SET deleted = 1 WHERE id = ?", (file_id,))

    async def delete_file(self, file_id: str) -> None:
        row = await self._one("SELECT blob_id FROM files WHERE id = ?", (file_id,))
        if row is None:
            return
        await self.db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        await self.delete_blob(row[0])

    async def file_in_use(self, file_id: str, terminal: tuple[str, ...], but: str = "") -> bool:
        """Whether a batch in flight (other than `but`) reads the file."""
        marks = ",".join("?" * len(terminal))
        row = await self._one(
            f"SELECT 1 FROM batches WHERE status NOT IN ({marks}) AND json_extract(batch, '$.input_file_id') = ? "
            "AND id != ?", (*terminal, file_id, but))
        return row is not None

    # -- blobs --------------------------------------------------------------------------------
    async def new_blob(self) -> int:
        cur = await self.db.execute("INSERT INTO blobs (size) VALUES (0)")
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def append_chunk(self, blob_id: int, n: int, data: bytes) -> None:
        await self.db.execute("INSERT INTO chunks (blob_id, n, data) VALUES (?, ?, ?)", (blob_id, n, data))
        await self.db.execute("UPDATE blobs SET size = size + ? WHERE id = ?", (len(data), blob_id))

    async def next_chunk(self, blob_id: int, after: int) -> tuple[int, bytes] | None:
        """The blob's first chunk numbered above `after` (parts written side by side leave gaps)."""
        row = await self._one("SELECT n, data FROM chunks WHERE blob_id = ? AND n > ? ORDER BY n LIMIT 1",
                              (blob_id, after))
        return None if row is None else (row[0], bytes(row[1]))

    async def delete_blob(self, blob_id: int) -> None:
        await self.db.execute("DELETE FROM chunks WHERE blob_id = ?", (blob_id,))
        await self.db.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))

    async def sweep_blobs(self, keep: set[int]) -> int:
        """Delete blobs that no file or upload part points at and that are not in `keep` (pending batch output)."""
        rows = await self._all("SELECT id FROM blobs WHERE id NOT IN (SELECT blob_id FROM files) "
                               "AND id NOT IN (SELECT blob_id FROM upload_parts)")
        orphans = [r[0] for r in rows if r[0] not in keep]
        for blob_id in orphans:
            await self.delete_blob(blob_id)
        # Chunks of a blob deleted while a killed worker was still writing it.
        await self.db.execute("DELETE FROM chunks WHERE blob_id NOT IN (SELECT id FROM blobs)")
        return len(orphans)

    # -- batches ------------------------------------------------------------------------------
    async def insert_batch(self, seq: int, b: BatchRow) -> None:
        await self.db.execute(
            f"INSERT INTO batches (seq, {_BATCH_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, b.id, b.tenant, b.status, json.dumps(b.batch), json.dumps(b.progress), json.dumps(b.plan)))

    async def update_batch(self, b: BatchRow) -> None:
        await self.db.execute("UPDATE batches SET status = ?, batch = ?, progress = ? WHERE id = ?",
                              (b.status, json.dumps(b.batch), json.dumps(b.progress), b.id))

    async def set_outcomes(self, batch_id: str, outcomes: bytes) -> None:
        await self.db.execute("UPDATE batches SET outcomes = ? WHERE id = ?", (outcomes, batch_id))

    async def get_outcomes(self, batch_id: str) -> bytes:
        row = await self._one("SELECT outcomes FROM batches WHERE id = ?", (batch_id,))
        return bytes(row[0]) if row and row[0] is not None else b""

    async def get_batch(self, batch_id: str, tenant: str | None = None) -> BatchRow | None:
        if tenant is None:
            row = await self._one(f"SELECT {_BATCH_COLS} FROM batches WHERE id = ?", (batch_id,))
        else:
            row = await self._one(f"SELECT {_BATCH_COLS} FROM batches WHERE id = ? AND tenant = ?",
                                  (batch_id, tenant))
        return None if row is None else _batch(row)

    async def list_batches(self, tenant: str, after: str | None, limit: int) -> list[BatchRow]:
        sql = f"SELECT {_BATCH_COLS} FROM batches WHERE tenant = ?"
        args: list[Any] = [tenant]
        if after is not None:
            sql += " AND seq < (SELECT seq FROM batches WHERE id = ? AND tenant = ?)"
            args += [after, tenant]
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return [_batch(r) for r in await self._all(sql, tuple(args))]

    async def batch_ids_in(self, statuses: tuple[str, ...]) -> list[str]:
        marks = ",".join("?" * len(statuses))
        return [r[0] for r in await self._all(f"SELECT id FROM batches WHERE status IN ({marks}) ORDER BY seq",
                                              statuses)]

    async def pending_blobs(self) -> set[int]:
        rows = await self._all("SELECT progress FROM batches WHERE json_extract(progress, '$.output') IS NOT NULL")
        keep: set[int] = set()
        for (progress,) in rows:
            for f in (json.loads(progress)["output"].get("files") or {}).values():
                if f and f.get("blob") is not None:
                    keep.add(int(f["blob"]))
        return keep

    async def wipe(self) -> None:
        """Forget every object and sequence; the size cap (the server's setting, read by every connection) stays."""
        for table in ("chunks", "blobs", "files", "batches", "uploads", "upload_parts", "webhook_endpoints",
                      "webhook_deliveries"):
            await self.db.execute(f"DELETE FROM {table}")
        await self.db.execute("DELETE FROM meta WHERE key != 'max_bytes'")

    # -- enqueued tokens (the batch queue limit) ----------------------------------------------------
    async def enqueued_tokens(self, tenant: str, model: str, statuses: tuple[str, ...], exclude: str) -> int:
        """Estimated tokens of the tenant's validated, error-free batches for `model` in `statuses`."""
        marks = ",".join("?" * len(statuses))
        row = await self._one(
            "SELECT COALESCE(SUM(json_extract(progress, '$.validated.tokens')), 0) FROM batches "
            f"WHERE tenant = ? AND id != ? AND status IN ({marks}) "
            "AND json_extract(progress, '$.validated.model') = ? "
            "AND json_array_length(progress, '$.validated.errors') = 0",
            (tenant, exclude, *statuses, model))
        return int(row[0])

    # -- uploads and their parts --------------------------------------------------------------------
    async def insert_upload(self, seq: int, u: UploadRow) -> None:
        await self.db.execute(
            f"INSERT INTO uploads (seq, {_UPLOAD_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, u.id, u.tenant, u.filename, u.purpose, u.bytes, u.mime_type, u.created_at, u.expires_at,
             u.status, u.file_ttl, u.file_id))

    async def get_upload(self, tenant: str, upload_id: str) -> UploadRow | None:
        row = await self._one(f"SELECT {_UPLOAD_COLS} FROM uploads WHERE id = ? AND tenant = ?", (upload_id, tenant))
        return None if row is None else UploadRow(*row)

    async def set_upload_status(self, upload_id: str, status: str, file_id: str | None = None) -> None:
        await self.db.execute("UPDATE uploads SET status = ?, file_id = ? WHERE id = ?", (status, file_id, upload_id))

    async def expire_uploads(self, now: float) -> None:
        """Pending uploads past their `expires_at` become `expired`; their parts are dropped."""
        rows = await self._all("SELECT id FROM uploads WHERE status = 'pending' AND expires_at <= ?", (now,))
        for (upload_id,) in rows:
            await self.set_upload_status(upload_id, "expired")
            await self.delete_parts(upload_id)

    async def insert_part(self, seq: int, p: PartRow) -> None:
        await self.db.execute(
            f"INSERT INTO upload_parts (seq, {_PART_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, p.id, p.upload_id, p.blob_id, p.bytes, p.created_at))

    async def get_parts(self, upload_id: str) -> list[PartRow]:
        rows = await self._all(f"SELECT {_PART_COLS} FROM upload_parts WHERE upload_id = ? ORDER BY seq", (upload_id,))
        return [PartRow(*r) for r in rows]

    async def parts_bytes(self, upload_id: str) -> int:
        row = await self._one("SELECT COALESCE(SUM(bytes), 0) FROM upload_parts WHERE upload_id = ?", (upload_id,))
        return int(row[0])

    async def delete_parts(self, upload_id: str) -> None:
        for part in await self.get_parts(upload_id):
            await self.delete_blob(part.blob_id)
        await self.db.execute("DELETE FROM upload_parts WHERE upload_id = ?", (upload_id,))

    async def concat_blobs(self, blob_ids: list[int]) -> int:
        """Append the 2nd.. blobs to the first by renumbering their chunk rows (the bytes are never read
        into memory); the emptied blobs are dropped. Chunks of the result may be shorter than CHUNK."""
        target = blob_ids[0]
        row = await self._one("SELECT COUNT(*) FROM chunks WHERE blob_id = ?", (target,))
        offset = int(row[0])
        for blob_id in blob_ids[1:]:
            row = await self._one("SELECT (SELECT COUNT(*) FROM chunks WHERE blob_id = ?), size FROM blobs "
                                  "WHERE id = ?", (blob_id, blob_id))
            await self.db.execute("UPDATE chunks SET blob_id = ?, n = n + ? WHERE blob_id = ?",
                                  (target, offset, blob_id))
            await self.db.execute("UPDATE blobs SET size = size + ? WHERE id = ?", (int(row[1]), target))
            await self.db.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))
            offset += int(row[0])
        return target

    async def forget_parts(self, upload_id: str) -> None:
        """Drop the part rows only (their blobs now belong to a file)."""
        await self.db.execute("DELETE FROM upload_parts WHERE upload_id = ?", (upload_id,))

    # -- webhook endpoints ----------------------------------------------------------------------------
    async def insert_endpoint(self, seq: int, e: EndpointRow) -> None:
        await self.db.execute(f"INSERT INTO webhook_endpoints (seq, {_ENDPOINT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (seq, e.id, e.tenant, json.dumps(e.endpoint), e.secret, e.old_secret,
                               e.old_secret_until))

    async def update_endpoint(self, e: EndpointRow) -> None:
        await self.db.execute("UPDATE webhook_endpoints SET endpoint = ?, secret = ?, old_secret = ?, "
                              "old_secret_until = ? WHERE id = ?",
                              (json.dumps(e.endpoint), e.secret, e.old_secret, e.old_secret_until, e.id))

    async def get_endpoint(self, endpoint_id: str, tenant: str | None = None) -> EndpointRow | None:
        sql = f"SELECT {_ENDPOINT_COLS} FROM webhook_endpoints WHERE id = ?"
        row = await (self._one(sql, (endpoint_id,)) if tenant is None else
                     self._one(sql + " AND tenant = ?", (endpoint_id, tenant)))
        return None if row is None else _endpoint(row)

    async def list_endpoints(self, tenant: str, after: str | None = None, limit: int = -1) -> list[EndpointRow]:
        """The tenant's endpoints, newest first (all of them with the default limit)."""
        sql = f"SELECT {_ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant = ?"
        args: list[Any] = [tenant]
        if after is not None:
            sql += " AND seq < (SELECT seq FROM webhook_endpoints WHERE id = ? AND tenant = ?)"
            args += [after, tenant]
        return [_endpoint(r) for r in await self._all(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit))]

    async def delete_endpoint(self, endpoint_id: str) -> None:
        await self.db.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))

    # -- webhook deliveries ---------------------------------------------------------------------------
    async def insert_delivery(self, d: DeliveryRow) -> None:
        cur = await self.db.execute(
            f"INSERT INTO webhook_deliveries ({_DELIVERY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (d.id, d.event_id, d.event_type, d.tenant, d.endpoint_id, d.url, d.body, d.created_at, d.state, d.next_at,
             json.dumps(d.fault) if d.fault else None, json.dumps(d.attempts), int(d.test)))
        d.seq = cur.lastrowid

    async def update_delivery(self, d: DeliveryRow) -> None:
        await self.db.execute("UPDATE webhook_deliveries SET url = ?, state = ?, next_at = ?, attempts = ? "
                              "WHERE seq = ?", (d.url, d.state, d.next_at, json.dumps(d.attempts), d.seq))

    async def due_deliveries(self, now: float, endpoint: str | None = None) -> list[DeliveryRow]:
        """Deliveries whose next attempt is due by `now`, in the order they were made (for one endpoint: `endpoint`
        an id, or "" for the configured one)."""
        sql = f"SELECT {_DELIVERY_COLS}, seq FROM webhook_deliveries WHERE next_at <= ?"
        args: tuple[Any, ...] = (now,)
        if endpoint is not None:
            sql += " AND COALESCE(endpoint_id, '') = ?"
            args += (endpoint,)
        # `+seq`: sorted after the index on next_at found the few due rows, not by walking the table in seq order.
        return [_delivery(r) for r in await self._all(sql + " ORDER BY +seq", args)]

    async def due_endpoints(self, now: float) -> list[str]:
        """The endpoints with a delivery due by `now` (as `due_deliveries` names them), in the order of their first."""
        rows = await self._all("SELECT COALESCE(endpoint_id, '') FROM webhook_deliveries WHERE next_at <= ? "
                               "GROUP BY 1 ORDER BY MIN(seq)", (now,))
        return [r[0] for r in rows]

    async def release_held(self, endpoint: str, event_id: str, before: int, now: float) -> None:
        """Held deliveries (out_of_order) to `endpoint` of other events made before `before`: due now."""
        await self.db.execute("UPDATE webhook_deliveries SET state = 'pending', next_at = ? WHERE next_at IS NOT NULL "
                              "AND state = 'held' AND COALESCE(endpoint_id, '') = ? AND event_id != ? AND +seq < ?",
                              (now, endpoint, event_id, before))  # held rows are due some time: the index has them

    async def list_deliveries(self, limit: int) -> list[DeliveryRow]:
        """The newest `limit` deliveries, oldest first."""
        rows = await self._all(f"SELECT {_DELIVERY_COLS}, seq FROM webhook_deliveries ORDER BY seq DESC LIMIT ?",
                               (limit,))
        return [_delivery(r) for r in reversed(rows)]


class _Direct:
    """A read-only connection used straight from the event loop's thread: a read by key costs microseconds,
    a round trip to aiosqlite's thread far more. WAL readers never wait for writers."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (*PRAGMAS[1:], "PRAGMA query_only=1"):
            self.conn.execute(pragma)

    async def execute_fetchall(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return self.conn.execute(sql, args).fetchall()


class Store:
    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        self._lock: Any = None
        self._direct: _Direct | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, path: str, max_bytes: int | None = None) -> AsyncIterator[Store]:
        import asyncio

        async with aiosqlite.connect(path, isolation_level=None) as db:
            for pragma in PRAGMAS:
                await db.execute(pragma)
            store = cls(db, path)
            store._lock = asyncio.Lock()
            await store._migrate()
            await store._set_cap(max_bytes)
            store._direct = _Direct(path)
            try:
                yield store
            finally:
                store._direct.conn.close()

    async def _set_cap(self, max_bytes: int | None) -> None:
        """Apply the size cap here and record it for the worker connections (`BlobIO`)."""
        await self.db.execute("DELETE FROM meta WHERE key = 'max_bytes'")  # shrinks nothing: fits a full disk
        if max_bytes is not None:
            try:
                await self.db.execute("INSERT INTO meta (key, value) VALUES ('max_bytes', ?)", (str(max_bytes),))
            except sqlite3.OperationalError as exc:
                raise storage_full(exc) from exc
        async with self.db.execute("PRAGMA page_size") as cur:
            page_size = (await cur.fetchone())[0]  # type: ignore[index]
        await self.db.execute(_cap(page_size, max_bytes))

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = row[0] if row else 0
        for n, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {n};\nCOMMIT;")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One unit of work. A full database is a StorageFull error (nothing of the unit is kept); the error
        that ended a unit is the one raised, never a failed ROLLBACK's (SQLite may have rolled back already).

        A unit that fails, or is cancelled (a reset stopping a job or a delivery), always ends in a ROLLBACK: a
        cancelled BEGIN or COMMIT still runs on aiosqlite's thread, and statements run there in order, so the
        ROLLBACK comes after it and the connection is never left inside a transaction nobody owns."""
        async with self._lock:
            tx = Tx(self.db)
            try:
                try:
                    await self.db.execute("BEGIN IMMEDIATE")
                    yield tx
                    await self.db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.OperationalError):  # nothing to roll back: already ended
                        await self.db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                    raise storage_full(exc) from exc
                raise
        for call in tx.committed:
            call()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """Small reads (rows by key, a page of a list) without a transaction: each statement sees the last
        commit. Only for reads: the connection refuses writes."""
        assert self._direct is not None
        yield Tx(self._direct)  # type: ignore[arg-type]

    async def read_blob(self, blob_id: int) -> AsyncIterator[bytes]:
        """Stream a blob chunk by chunk from one read transaction on a connection of its own (and its own
        thread): the download sees the blob as it was when it began, so a file deleted or a server reset
        meanwhile still streams whole, every byte of the content-length promised. WAL lets writers go on."""
        async with aiosqlite.connect(self.path, isolation_level=None) as db:
            # One round trip; the snapshot is taken by the first read and held to the last.
            await db.executescript(";".join((*PRAGMAS[1:], "PRAGMA query_only=1", "BEGIN")))
            n = -1
            while (found := await Tx(db).next_chunk(blob_id, n)) is not None:
                n, data = found
                yield data


def storage_full(exc: sqlite3.Error) -> StorageFull:
    return StorageFull(f"The server's storage is full ({exc}). Delete files you no longer need, or free disk "
                       "space, and try again.", code="storage_full", headers={"x-should-retry": "false"})


def _cap(page_size: int, max_bytes: int | None) -> str:
    """The pragma that keeps the database within `max_bytes` (None: what the disk holds); past it, writes fail
    as on a full disk. It holds for one connection only, so each applies it."""
    return f"PRAGMA max_page_count = {max(1, max_bytes // page_size) if max_bytes else 0xFFFFFFFE}"


class BlobIO:
    """Synchronous access to blobs for worker threads (own connection; WAL lets it read beside the server)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            self.conn.execute(pragma)
        cap = self.conn.execute("SELECT value FROM meta WHERE key = 'max_bytes'").fetchone()
        if cap is not None:  # the server's size cap reaches every connection through the database itself
            self.conn.execute(_cap(self.conn.execute("PRAGMA page_size").fetchone()[0], int(cap[0])))

    def close(self) -> None:
        self.conn.close()

    def chunks(self, blob_id: int, after: int = -1) -> Iterator[bytes]:
        """The blob's chunks in order, from the first numbered above `after`."""
        n = after
        while True:
            row = self.conn.execute("SELECT n, data FROM chunks WHERE blob_id = ? AND n > ? ORDER BY n LIMIT 1",
                                    (blob_id, n)).fetchone()
            if row is None:
                return
            n = row[0]
            yield bytes(row[1])

    def chunk_sizes(self, blob_id: int) -> list[int]:
        return [size for _, size in self._chunk_rows(blob_id)]

    def _chunk_rows(self, blob_id: int) -> list[tuple[int, int]]:
        return self.conn.execute("SELECT n, length(data) FROM chunks WHERE blob_id = ? ORDER BY n",
                                 (blob_id,)).fetchall()

    def lines(self, blob_id: int) -> Iterator[bytes]:
        """The blob split into lines (without their newline); a last line without one is kept."""
        return self.lines_in(blob_id, 0, None)

    def lines_in(self, blob_id: int, first: int, stop: int | None) -> Iterator[bytes]:
        """The lines of `lines` that start in the blob's chunks `first` to `stop` (positions in chunk order;
        None: to the end). A line begun in an earlier chunk is left to the part before; the last one is read
        on to its end. So parts that together cover every chunk yield every line exactly once."""
        rows = self._chunk_rows(blob_id)
        if first >= len(rows):
            return
        owned = sum(size for _, size in rows[first:stop])  # lines starting before this many bytes are this part's
        after = rows[first - 1][0] if first else -1
        skip = first > 0 and self.conn.execute(  # the first piece ends a line of the part before
            "SELECT substr(data, -1) FROM chunks WHERE blob_id = ? AND n = ?", (blob_id, after),
        ).fetchone()[0] != b"\n"
        offset = 0  # where the next line starts, from the start of chunk `first`
        rest = b""
        for data in self.chunks(blob_id, after):
            parts = (rest + data).split(b"\n")
            rest = parts.pop()
            for line in parts:
                if offset >= owned:
                    return
                if not skip:
                    yield line
                skip = False
                offset += len(line) + 1
        if rest and offset < owned and not skip:
            yield rest

    def delete_blob(self, blob_id: int) -> None:
        with self.conn:  # one transaction (the connection is in autocommit mode otherwise)
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM chunks WHERE blob_id = ?", (blob_id,))
            self.conn.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))

    def new_blob(self) -> int:
        blob_id = self.conn.execute("INSERT INTO blobs (size) VALUES (0)").lastrowid
        assert blob_id is not None
        return blob_id

    def writer(self, blob_id: int | None = None, first_chunk: int = 0) -> BlobWriter:
        """Write a new blob, or (several writers side by side) part of one from chunk `first_chunk` on.

        Blob writes skip fsync: waiting for the disk would double the time a big output takes, and what a job
        writes it can write again. A killed process loses nothing this way; only an OS crash could cost data."""
        self.conn.execute("PRAGMA synchronous=OFF")
        return BlobWriter(self.conn, self.new_blob() if blob_id is None else blob_id, first_chunk)


class BlobGone(Exception):
    """The blob being written no longer exists (a reset, or a restart swept it)."""


class BlobWriter:
    """Buffers writes into CHUNK-sized rows; a few chunks per commit keeps the server's waits short."""

    def __init__(self, conn: sqlite3.Connection, blob_id: int, first_chunk: int = 0) -> None:
        self.conn = conn
        self.blob_id = blob_id
        self.size = 0
        self._n = first_chunk
        self._buf: list[bytes] = []
        self._buffered = 0

    def write(self, data: bytes) -> None:
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered >= CHUNK:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        data = b"".join(self._buf)
        rows = []
        while len(data) >= CHUNK or (final and data):
            rows.append((self.blob_id, self._n, data[:CHUNK]))
            data = data[CHUNK:]
            self._n += 1
        self._buf = [data] if data else []
        self._buffered = len(data)
        if rows:
            written = sum(len(r[2]) for r in rows)
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT INTO chunks (blob_id, n, data) VALUES (?, ?, ?)", rows)
            if self.conn.execute("UPDATE blobs SET size = size + ? WHERE id = ?", (written, self.blob_id)).rowcount:
                self.conn.execute("COMMIT")
            else:  # wiped or swept meanwhile: nobody will read this
                self.conn.execute("ROLLBACK")
                raise BlobGone(self.blob_id)
            self.size += written

    def close(self) -> int:
        self._flush(final=True)
        return self.size
