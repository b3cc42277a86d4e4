"""Webhook deliveries: the events made as batches end, and their signed sending to endpoints.

An event is made in the very transaction that ends its batch (`batch_ended`, called by the Scheduler): one
delivery row per subscribed endpoint, so an event is neither lost nor made twice. A delivery is marked delivered
only once its endpoint answered 2xx, so a crash in between sends it again (at least once). Deliveries are sent by
tasks of their own, one endpoint's in the order they were made, never by the request or the batch that made them;
retries wait on the virtual clock (events.RETRY_DELAYS). `flush` sends every due one and waits: what
`Control.advance` returns after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mockbatch import events
from mockbatch.clock import Clock
from mockbatch.engine.scenario import ActiveScenario
from mockbatch.errors import StorageFull
from mockbatch.scenarios import Scenario
from mockbatch.store import BatchRow, DeliveryRow, EndpointRow, Store, Tx
from mockbatch.traffic import Entry, Traffic, mask_key

log = logging.getLogger("mockbatch")

CONFIGURED = ""  # the delivery key of the endpoint given at start (--webhook-url); an API endpoint's is its id
SEQUENCE = "webhook_seq"  # ids of endpoints, events and deliveries count apart from files' and batches'
LOG_SIZE = 10_000  # deliveries the log shows, the newest
PASSES = 10  # flush: rounds of sending before it returns (each catches what the one before made due)


@dataclass
class Deliveries:
    store: Store
    clock: Clock
    seed: int
    active: ActiveScenario
    traffic: Traffic
    report: Callable[[BaseException], None]  # an unexpected exception, for MockBatchServer.check()
    url: str | None = None  # the endpoint given at start: every tenant's batch events, signed with `secret`
    secret: str = ""
    timeout: float = events.TIMEOUT
    tick_seconds: float = 0.2  # on the real clock, how often due retries are looked for
    _client: httpx.AsyncClient | None = field(default=None, init=False)
    _senders: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)  # by delivery key
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _loop: asyncio.Task[None] | None = field(default=None, init=False)
    _stalled_until: float = field(default=float("-inf"), init=False)  # a full store: sending waits until then
    _paused: bool = field(default=False, init=False)  # between `forget` and `resume`: a reset is wiping the rows

    # -- lifetime -----------------------------------------------------------------------------
    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, trust_env=False, follow_redirects=False)
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await self.forget()
        if self._client is not None:
            await self._client.aclose()

    async def forget(self) -> None:
        """Stop every send under way, and start none until `resume` (a reset wipes what they would send)."""
        self._paused = True
        senders = list(self._senders.values())
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        self._senders.clear()
        self._stalled_until = float("-inf")

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    async def _run(self) -> None:
        """Send what falls due: woken by new deliveries; on the real clock, also every tick for retries."""
        while True:
            try:
                await self._kick()
            except Exception as exc:  # a bug: keep going, and keep it visible
                log.exception("sending webhooks failed")
                self.report(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if self.clock.mode == "manual" else self.tick_seconds)
            self._wake.clear()

    async def _kick(self) -> None:
        """Start a sender for each endpoint with a delivery due and none sending to it."""
        now = self.clock.now()
        if self._paused or now < self._stalled_until:
            return
        async with self.store.read() as tx:
            keys = await tx.due_endpoints(now)
        for key in keys:
            running = self._senders.get(key)
            if running is None or running.done():
                task = self._senders[key] = asyncio.create_task(self._send_all(key))
                task.add_done_callback(lambda t, key=key: self._sent(key, t))

    def _sent(self, key: str, task: asyncio.Task[None]) -> None:
        if self._senders.get(key) is task:
            del self._senders[key]
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:  # a bug even in giving a delivery up: no new look (no loop)
            log.error("sending webhooks failed", exc_info=exc)
            self.report(exc)
        else:
            self._wake.set()  # a delivery made while it was finishing found it still running: look again

    async def flush(self) -> None:
        """Send every delivery due by now and wait for every send under way (what `advance` returns after)."""
        for _ in range(PASSES):
            await self._kick()
            running = list(self._senders.values())
            if not running:
                return
            await asyncio.gather(*running, return_exceptions=True)

    async def _send_all(self, key: str) -> None:
        """One endpoint's due deliveries, one at a time in the order they were made, until none is left due."""
        tried: set[int | None] = set()
        while True:
            async with self.store.read() as tx:
                due = [d for d in await tx.due_deliveries(self.clock.now(), key) if d.seq not in tried]
            if not due or self._paused or self.clock.now() < self._stalled_until:
                return
            for delivery in due:
                tried.add(delivery.seq)
                try:
                    await self.attempt(delivery)
                except Exception as exc:  # a bug: reported, and the delivery is given up (state, not a loop)
                    log.exception("sending webhook %s failed", delivery.id)
                    self.report(exc)
                    await self._record(delivery, self.clock.now(), None, f"mockbatch could not send it: {exc!r}",
                                       retries=False)

    # -- one attempt ----------------------------------------------------------------------------
    async def attempt(self, d: DeliveryRow, retries: bool = True) -> None:
        """POST the delivery once, signed now; record the answer and when to try again, if ever."""
        async with self.store.read() as tx:
            endpoint = await tx.get_endpoint(d.endpoint_id) if d.endpoint_id else None
        now = self.clock.now()
        gone = d.endpoint_id is not None and endpoint is None
        if gone:
            status, error = None, "the webhook endpoint was deleted"
        else:
            d.url = endpoint.endpoint["url"] if endpoint else (self.url or d.url)  # an update moves its retries
            status, error = await self._post(d, self._secrets(endpoint, now))
        await self._record(d, now, status, error, retries and not gone)

    async def _record(self, d: DeliveryRow, now: float, status: int | None, error: str | None, retries: bool) -> None:
        """An attempt's outcome, and when the next one is due (if any), in the row and the journal."""
        d.attempts.append({"at": now, "status": status, "error": error})
        if status is not None and 200 <= status < 300:
            d.state, d.next_at = "delivered", None
        elif not retries or (retry := events.retry_at(len(d.attempts), now)) is None:
            d.state, d.next_at = "failed", None
        else:
            d.state, d.next_at = "pending", retry
        try:
            async with self.store.transaction() as tx:
                await tx.update_delivery(d)
                await tx.release_held(d.endpoint_id or CONFIGURED, d.event_id, d.seq or 0, now)
        except StorageFull:  # sent, but not recorded: it will be sent again once there is room
            self._stalled_until = now + events.RETRY_DELAYS[0]
        batch_id = None if d.test or not d.event_type.startswith("batch.") else json.loads(d.body)["data"]["id"]
        fault = (d.fault or {}).get("name") if len(d.attempts) == 1 else None  # a retry is never faulted
        self.traffic.journal.append(Entry(now, d.tenant, "POST", d.url, "webhooks.deliver", status,
                                          len(d.attempts) - 1, fault, batch_id, None))

    def _secrets(self, endpoint: EndpointRow | None, now: float) -> list[str]:
        if endpoint is None:
            return [self.secret]
        if endpoint.old_secret and endpoint.old_secret_until is not None and now < endpoint.old_secret_until:
            return [endpoint.secret, endpoint.old_secret]  # a rotation's overlap: either verifies
        return [endpoint.secret]

    async def _post(self, d: DeliveryRow, secrets: list[str]) -> tuple[int | None, str | None]:
        """Send once, with the delivery's fault applied; the endpoint's status, or why there was none."""
        fault = d.fault or {}
        effect = fault.get("effect") if not d.attempts else None  # a bad signature or body: the first attempt's
        body = events.malformed(d.body) if effect == "malformed" else d.body
        timestamp = int(self.clock.wall()) - (math.ceil(fault["seconds"]) if effect == "stale_timestamp" else 0)
        if effect == "wrong_secret":
            secrets = [events.new_secret(self.seed, "wrong", d.seq)]
        assert self._client is not None
        try:
            request = self._client.build_request("POST", d.url, content=body,
                                                 headers=events.headers(secrets, d.id, timestamp, body))
            async with asyncio.timeout(self.timeout):  # in all: a receiver that dribbles its answer counts too
                answer = await self._client.send(request, stream=True)  # its status only: the body is never read
                await answer.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:  # refused, reset, no such host, ...
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return answer.status_code, None if answer.is_success else f"answered {answer.status_code}"

    # -- events ---------------------------------------------------------------------------------
    async def batch_ended(self, tx: Tx, row: BatchRow, at: float) -> None:
        """Make the event of a batch that has just ended (in the transaction that ends it), for each endpoint of
        its tenant subscribed to that type, and the configured one. Only OpenAI's batches (and Azure's, which
        share their ids) have events; Anthropic's Message Batches have none."""
        if "message_batch" in row.batch:
            return
        event_type = f"batch.{row.status}"
        targets = [(e.id, e.endpoint["url"]) for e in reversed(await tx.list_endpoints(row.tenant))
                   if event_type in e.endpoint["event_types"]]
        if self.url:
            targets.append((None, self.url))
        if targets:
            scenario = self.active.book.scenarios.get(row.plan.get("scenario", ""), self.active.current)
            await self.emit(tx, row.tenant, event_type, at, {"id": row.id}, targets, scenario)

    async def emit(self, tx: Tx, tenant: str, event_type: str, at: float, data: dict[str, Any],
                    targets: list[tuple[str | None, str]], scenario: Scenario | None,
                    test: bool = False) -> list[DeliveryRow]:
        """An event and its deliveries, each with the scenario's fault for it (picked now, kept in its row)."""
        event = events.event_id(self.seed, await tx.next_seq(SEQUENCE))
        body = events.event_body(event, event_type, at, data)
        made = []
        for endpoint_id, url in targets:
            fault = self.traffic.pick_webhook(scenario, event_type) if scenario else None
            # A test send is made as sent (by `test`, once, whatever happens); a fault may hold a delivery back.
            state, due = ("failed", None) if test else events.first_attempt(fault.effect if fault else None, at,
                                                                             fault.seconds if fault else 0.0)
            d = DeliveryRow(events.webhook_id(self.seed, await tx.next_seq(SEQUENCE)), event, event_type, tenant,
                            endpoint_id, url, body, at, state, due,
                            {"name": fault.name, "effect": fault.effect, "seconds": fault.seconds} if fault else None,
                            test=test)
            for _ in range(2 if fault and fault.effect == "duplicate" else 1):  # the same delivery (id, body) twice
                await tx.insert_delivery(d)
                made.append(d)
                d = DeliveryRow(**{**d.__dict__, "seq": None, "attempts": []})
        tx.on_commit(self._wake.set)
        return made

    # -- the delivery log ---------------------------------------------------------------------
    async def log(self) -> list[dict[str, Any]]:
        """What `GET /_mockbatch/webhooks` lists: the newest LOG_SIZE deliveries, oldest first."""
        async with self.store.read() as tx:
            rows = await tx.list_deliveries(LOG_SIZE)
        return [{"id": d.id, "event": json.loads(d.body), "endpoint_id": d.endpoint_id, "url": d.url,
                 "tenant": mask_key(d.tenant), "status": d.state, "test": d.test, "fault": d.fault,
                 "created_at": d.created_at, "attempts": d.attempts, "next_attempt_at": d.next_at} for d in rows]

