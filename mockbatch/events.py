"""Webhook events as OpenAI sends them: the event types, the body, the Standard Webhooks signature, the secrets,
and the retry schedule. Pure: the engine (engine/deliveries.py) stores and sends what this builds.

A delivery is signed per Standard Webhooks (https://www.standardwebhooks.com), as the SDK's `webhooks.unwrap`
checks it: `webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, keyed with
the base64 text after `whsec_`; several signatures (a rotated secret's overlap) are separated by spaces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from mockbatch import ids

# Every event type the SDK's `webhooks.create(event_types=...)` accepts, in its order.
EVENT_TYPES = (
    "batch.completed", "batch.failed", "batch.expired", "batch.cancelled",
    "response.completed", "response.failed", "response.cancelled", "response.incomplete",
    "eval.run.succeeded", "eval.run.failed", "eval.run.canceled",
    "fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled",
    "realtime.call.incoming", "video.completed", "video.failed",
    "agent.environment.ready", "agent.environment.failed", "agent.environment.suspended",
    "agent.environment.expired", "agent.session.created", "agent.session.action_required",
    "agent.session.in_progress", "agent.session.idle", "agent.session.failed",
    "safety.alert.created",
)
BATCH_EVENTS = EVENT_TYPES[:4]  # what this server emits, as batches end; the others only as `test` samples
# A `test` sample's `data`, as the SDK's event type for it wants it: its id's prefix, by the type's first words,
# and what else some types carry.
SAMPLE_PREFIX = {"batch": "batch_", "response": "resp_", "eval": "evalrun_", "fine_tuning": "ftjob-",
                 "realtime": "rtc_", "video": "video_", "agent.environment": "env_", "agent.session": "sess_",
                 "safety": "alert_"}
SAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    **{f"agent.session.{s}": {"environment_type": "container"} for s in ("created", "in_progress", "idle", "failed")},
    "agent.session.action_required": {"required_action": {"type": "function_call"}},
}
SIP_HEADERS = [{"name": "From", "value": "<sip:+15555550100@example.com>;tag=mockbatch"},
               {"name": "To", "value": "<sip:+15555550199@sip.api.openai.com>"}]

# What a scenario's [[webhook_faults]] may do to a delivery (scenarios/README.md).
EFFECTS = ("duplicate", "out_of_order", "delay", "drop", "wrong_secret", "stale_timestamp", "malformed")
TOLERANCE = 300  # seconds: how far from the wall clock a `webhook-timestamp` the SDK's `unwrap` accepts
STALE_SECONDS = 600.0  # a stale_timestamp's default age: twice that
HOLD_SECONDS = 60.0  # an out_of_order event is held until a later one is sent, at most this long (virtual)

# Seconds (virtual) after each failed attempt before the next: exponential (x6, x4, x5, x6, x3, x2, x2, x2), capped
# at a day; after the last, about 70 hours after the first attempt, the delivery is given up, as the real service
# gives up after days.
RETRY_DELAYS = (5, 30, 120, 600, 3_600, 10_800, 21_600, 43_200, 86_400, 86_400)
ATTEMPTS = len(RETRY_DELAYS) + 1
TIMEOUT = 5.0  # real seconds an attempt may take before it counts as failed
ROTATION_OVERLAP = 86_400  # keep_old_secret_active_for_24_hours: the old secret signs too, for a virtual day


def event_body(event_id: str, event_type: str, created_at: float, data: dict[str, Any]) -> bytes:
    """An event as OpenAI posts it (its keys in the order of the documented example)."""
    return json.dumps({"object": "event", "id": event_id, "type": event_type, "created_at": int(created_at),
                       "data": data}, separators=(",", ":")).encode()


def event_id(seed: int, seq: int) -> str:
    return "evt_" + ids.digest(seed, "event", seq).hex()


def webhook_id(seed: int, seq: int) -> str:
    """The `webhook-id` header: one per delivery of an event to an endpoint, the same on every retry."""
    return "wh_" + ids.digest(seed, "webhook", seq).hex()


def endpoint_id(seed: int, seq: int) -> str:
    return "we_" + ids.digest(seed, "webhook_endpoint", seq).hex()


def sample_data(seed: int, event_type: str, seq: int) -> dict[str, Any]:
    """The `data` of a `test` sample of `event_type`: a seeded id of the right kind, and the fields its type needs."""
    prefix = next(p for kind, p in SAMPLE_PREFIX.items() if event_type.startswith(kind + "."))
    object_id = prefix + ids.digest(seed, "sample", event_type, seq).hex()
    if event_type == "realtime.call.incoming":  # a call has no `id`: its `call_id` and the SIP INVITE's headers
        return {"call_id": object_id, "sip_headers": SIP_HEADERS}
    return {"id": object_id, **SAMPLE_FIELDS.get(event_type, {})}


def new_secret(seed: int, *parts: object) -> str:
    """A `whsec_` secret: 32 seeded bytes, base64."""
    return "whsec_" + base64.b64encode(ids.digest(seed, "whsec", *parts, size=32)).decode()


def secret_hint(secret: str) -> str:
    """The masked form the API shows after creation: its prefix and last four characters."""
    return f"whsec_...{secret[-4:]}"


def secret_problem(secret: str) -> str | None:
    """Why `secret` cannot sign (None if it can): `whsec_` and the base64 of at least one byte, as the SDK reads it."""
    if not secret.startswith("whsec_"):
        return "must start with 'whsec_'"
    try:
        key = base64.b64decode(secret[6:], validate=True)
    except (binascii.Error, ValueError):
        return "must be 'whsec_' followed by base64"
    return None if key else "must be 'whsec_' followed by base64 of at least one byte"


URL_MAX = 2048


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive deliveries (None if it can). Plain http is let through, unlike the real service's
    HTTPS-only rule: receivers in tests and CI listen on localhost."""
    if len(url) > URL_MAX:
        return f"must be at most {URL_MAX} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
        httpx.URL(url)  # what the sender will make of it: a host that is no IDNA name, a bad IPv6 literal
    except (ValueError, httpx.InvalidURL):
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable() \
            or any(c.isspace() for c in url):
        return "must be an http:// or https:// URL with a host"
    return None


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt, signed with each secret in `secrets`."""
    return {"content-type": "application/json", "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
            "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets)}


def retry_at(attempts: int, at: float) -> float | None:
    """When to try again after `attempts` failed attempts, the last at `at`; None once the bound is reached."""
    return at + RETRY_DELAYS[attempts - 1] if attempts <= len(RETRY_DELAYS) else None


def first_attempt(effect: str | None, at: float, seconds: float) -> tuple[str, float | None]:
    """A new delivery's state and when it is first due (None: never), under a fault's effect (None: no fault)."""
    if effect == "delay":
        return "pending", at + seconds
    if effect == "out_of_order":  # sent once a later event to its endpoint has been, at the latest then
        return "held", at + seconds
    if effect == "drop":
        return "dropped", None
    return "pending", at


def malformed(body: bytes) -> bytes:
    """A malformed_body fault's body: the event cut short in the middle, no longer JSON."""
    return body[: len(body) // 2]
