"""Webhook endpoints: what a tenant registers through /v1/webhook_endpoints, checked as the real API checks it.
Their events are made and sent by engine/deliveries.py; a `test` send goes through it too, at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockbatch import events
from mockbatch.clock import Clock
from mockbatch.engine.deliveries import SEQUENCE, Deliveries
from mockbatch.errors import (
    InvalidRequest,
    NotFound,
    invalid_type,
    invalid_value,
    length_above,
    length_below,
    missing_parameter,
)
from mockbatch.objects import page
from mockbatch.scenarios import quoted
from mockbatch.store import EndpointRow, Store, Tx

NAME_MAX = 256


def not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"No webhook endpoint found with id '{endpoint_id}'.", param="webhook_endpoint_id",
                    code="webhook_endpoint_not_found")


def endpoint_object(e: EndpointRow, with_secret: bool = False) -> dict[str, Any]:
    """The wire object (`WebhookEndpoint`; `WebhookEndpointWithSecret` when the secret is shown, once)."""
    wire: dict[str, Any] = {}
    for key, value in e.endpoint.items():
        if key == "signing_secret_hint" and with_secret:
            wire["signing_secret"] = e.secret
        wire[key] = value
    return wire


@dataclass
class Webhooks:
    store: Store
    clock: Clock
    seed: int
    deliveries: Deliveries

    async def create(self, tenant: str, params: dict[str, Any]) -> dict[str, Any]:
        fields = _fields(params, ("name", "url", "event_types"), required=True)
        now = int(self.clock.now())
        async with self.store.transaction() as tx:
            seq = await tx.next_seq(SEQUENCE)
            endpoint_id = events.endpoint_id(self.seed, seq)
            secret = events.new_secret(self.seed, endpoint_id, seq)
            e = EndpointRow(endpoint_id, tenant, {
                "id": endpoint_id, "object": "webhook_endpoint", "name": fields["name"], "url": fields["url"],
                "event_types": fields["event_types"], "signing_secret_hint": events.secret_hint(secret),
                "created_at": now, "updated_at": now}, secret)
            await tx.insert_endpoint(seq, e)
        return endpoint_object(e, with_secret=True)

    async def _get(self, tx: Tx, tenant: str, endpoint_id: str) -> EndpointRow:
        e = await tx.get_endpoint(endpoint_id, tenant)
        if e is None:
            raise not_found(endpoint_id)
        return e

    async def retrieve(self, tenant: str, endpoint_id: str) -> dict[str, Any]:
        async with self.store.read() as tx:
            return endpoint_object(await self._get(tx, tenant, endpoint_id))

    async def list(self, tenant: str, after: str | None, limit: int) -> dict[str, Any]:
        async with self.store.read() as tx:
            rows = await tx.list_endpoints(tenant, after, limit + 1)
        return page([endpoint_object(e) for e in rows[:limit]], has_more=len(rows) > limit)

    async def update(self, tenant: str, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
        fields = _fields(params, ("name", "url", "event_types"), required=False)
        async with self.store.transaction() as tx:
            e = await self._get(tx, tenant, endpoint_id)
            changed = {k: v for k, v in fields.items() if e.endpoint[k] != v}
            if changed:  # an update that changes nothing leaves updated_at alone, as the SDK's type says
                e.endpoint.update(changed, updated_at=int(self.clock.now()))
                await tx.update_endpoint(e)
        return endpoint_object(e)

    async def delete(self, tenant: str, endpoint_id: str) -> dict[str, Any]:
        """Gone at once; its pending deliveries fail at their next attempt."""
        async with self.store.transaction() as tx:
            await self._get(tx, tenant, endpoint_id)
            await tx.delete_endpoint(endpoint_id)
        return {"id": endpoint_id, "object": "webhook_endpoint.deleted", "deleted": True}

    async def rotate_secret(self, tenant: str, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
        _unknown(params, ("keep_old_secret_active_for_24_hours",))
        keep = params.get("keep_old_secret_active_for_24_hours", False)
        if not isinstance(keep, bool):
            raise invalid_type("keep_old_secret_active_for_24_hours", "a boolean", keep)
        now = self.clock.now()
        async with self.store.transaction() as tx:
            e = await self._get(tx, tenant, endpoint_id)
            e.old_secret, e.old_secret_until = (e.secret, now + events.ROTATION_OVERLAP) if keep else (None, None)
            e.secret = events.new_secret(self.seed, endpoint_id, await tx.next_seq(SEQUENCE))
            e.endpoint.update(signing_secret_hint=events.secret_hint(e.secret), updated_at=int(now))
            await tx.update_endpoint(e)
        return endpoint_object(e, with_secret=True)

    async def test(self, tenant: str, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a sample event of a type now, once: no retries, no scenario faults. Its status is the answer."""
        _unknown(params, ("event_type",))
        event_type = params.get("event_type")
        if event_type is None:
            raise missing_parameter("event_type")
        if not isinstance(event_type, str):
            raise invalid_type("event_type", "a string", event_type)
        if event_type not in events.EVENT_TYPES:
            raise invalid_value(event_type, list(events.EVENT_TYPES), "event_type")
        now = self.clock.now()
        async with self.store.transaction() as tx:
            e = await self._get(tx, tenant, endpoint_id)
            sample = events.sample_data(self.seed, event_type, await tx.next_seq(SEQUENCE))
            [d] = await self.deliveries.emit(tx, tenant, event_type, now, sample, [(e.id, e.endpoint["url"])], None,
                                               test=True)
        await self.deliveries.attempt(d, retries=False)
        status, error = d.attempts[-1]["status"], d.attempts[-1]["error"]
        if status is None:
            raise InvalidRequest(f"Could not deliver the test event to {e.endpoint['url']}: {error}.",
                                 code="webhook_test_failed")
        return {"object": "webhook_endpoint.test", "webhook_endpoint_id": e.id, "event_type": event_type,
                "status_code": status, "success": True}


def _length(problem: tuple[str, str], param: str) -> InvalidRequest:
    message, code = problem
    return InvalidRequest(message, param=param, code=code)


def _unknown(params: dict[str, Any], known: tuple[str, ...]) -> None:
    for key in params:
        if key not in known:
            raise InvalidRequest(f"Unrecognized request argument supplied: {key}", param=key,
                                 code="unknown_parameter")


def _fields(params: dict[str, Any], names: tuple[str, ...], required: bool) -> dict[str, Any]:
    """The endpoint's fields a create (all required) or an update (any) gives, checked."""
    _unknown(params, names)
    out: dict[str, Any] = {}
    for name in names:
        if params.get(name) is None:  # null is not given, as the SDK omits it
            if required:
                raise missing_parameter(name)
            continue
        value = params[name]
        if name == "event_types":
            if not isinstance(value, list):
                raise invalid_type(name, "an array", value)
            if not value:
                raise _length(length_below("array", name, 1, 0), name)
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise invalid_type(f"{name}[{i}]", "a string", item)
                if item not in events.EVENT_TYPES:
                    raise invalid_value(item, list(events.EVENT_TYPES), f"{name}[{i}]")
            value = list(dict.fromkeys(value))
        elif not isinstance(value, str):
            raise invalid_type(name, "a string", value)
        elif name == "name" and not 1 <= len(value) <= NAME_MAX:
            raise _length(length_above("string", name, NAME_MAX, len(value)) if value else
                          length_below("string", name, 1, 0), name)
        elif name == "url" and (problem := events.url_problem(value)) is not None:
            raise InvalidRequest(f"Invalid 'url': {quoted(value, 80)} {problem}.", param=name, code="invalid_url")
        out[name] = value
    return out
