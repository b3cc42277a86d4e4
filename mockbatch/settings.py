"""Server settings: one frozen dataclass shared by the CLI, the in-process server and the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mockbatch import events
from mockbatch.catalog import Catalog
from mockbatch.clock import EARLIEST, LATEST, MAX_SCALE


class SettingsError(ValueError):
    """A setting has an unusable value; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    db: str | None = None  # None: a fresh temporary database, removed when the server stops
    clock: str = "real"  # "real" or "manual"
    time_scale: float = 1.0
    seed: int = 0
    start_time: float | None = None  # virtual unix time at first start (ISO 8601 text is read too); None: now
    api_keys: tuple[str, ...] = ()  # empty: any key is accepted (and is its own tenant); comma-separated text too
    validating_seconds: float = 1.0
    request_seconds: float = 0.5
    finalizing_seconds: float = 1.0
    cancelling_seconds: float = 1.0
    output_order: str = "shuffled"  # "shuffled" (seeded, like the real API) or "input"
    enqueued_token_limit: int | None = None  # per model and tenant; None: each model's default (catalog)
    scenario: str | None = None  # the active scenario: a name or a path to a TOML file; None: the default
    scenarios_dir: str | None = None  # the user's scenario files, beside the bundled ones
    models_file: str | None = None  # a TOML file of extra models for the model table
    workers: int | None = None  # processes for big batches; None: one per core, up to 4; 0: threads only
    warm_workers: bool = False  # start them with the server (`mockbatch serve`), not when a big file arrives
    max_db_bytes: int | None = None  # cap on the database's size: past it, writes fail as on a full disk
    webhook_url: str | None = None  # an endpoint for every tenant's batch events, for clients that never register one
    webhook_secret: str | None = None  # its signing secret (whsec_...); None: one derived from the seed
    webhook_timeout: float = events.TIMEOUT  # real seconds a delivery attempt may take
    catalog: Catalog | None = field(default=None, repr=False)  # in-process: models and endpoints of one's own
    tick_seconds: float = field(default=0.2, repr=False)  # how often the real clock's batches are moved on

    def __post_init__(self) -> None:
        # As the CLI, the environment and keyword arguments give them: read here, once, for every way in.
        object.__setattr__(self, "start_time", parse_start_time(self.start_time))
        keys = [self.api_keys] if isinstance(self.api_keys, str) else self.api_keys
        object.__setattr__(self, "api_keys", tuple(k.strip() for key in keys for k in key.split(",") if k.strip()))
        if self.clock not in ("real", "manual"):
            raise SettingsError(f"clock: expected 'real' or 'manual', got {self.clock!r}")
        if not 0 < self.time_scale <= MAX_SCALE:  # also refuses nan; inf would make every virtual time nan
            raise SettingsError(f"time-scale: must be a positive number up to {MAX_SCALE}, got {self.time_scale!r}")
        if self.start_time is not None and not EARLIEST <= self.start_time <= LATEST:
            raise SettingsError("start-time: must be a time between the years 1 and 9999, got "
                                f"{self.start_time!r}")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port: must be between 0 and 65535, got {self.port!r}")
        if self.output_order not in ("shuffled", "input"):
            raise SettingsError(f"output-order: expected 'shuffled' or 'input', got {self.output_order!r}")
        for name in ("validating_seconds", "request_seconds", "finalizing_seconds", "cancelling_seconds"):
            value = getattr(self, name)
            if not value >= 0:
                raise SettingsError(f"{name.replace('_', '-')}: must be zero or more, got {value!r}")
        if self.max_db_bytes is not None and not self.max_db_bytes >= 1 << 16:
            raise SettingsError(f"max-db-size: must be at least 65536 bytes, got {self.max_db_bytes!r}")
        if self.workers is not None and not 0 <= self.workers <= 64:
            raise SettingsError(f"workers: must be between 0 and 64, got {self.workers!r}")
        if self.enqueued_token_limit is not None and not self.enqueued_token_limit >= 1:
            raise SettingsError(f"enqueued-token-limit: must be 1 or more, got {self.enqueued_token_limit!r}")
        if self.webhook_url is not None and (problem := events.url_problem(self.webhook_url)) is not None:
            raise SettingsError(f"webhook-url: {problem}, got {self.webhook_url!r}")
        if self.webhook_secret is not None:
            if self.webhook_url is None:
                raise SettingsError("webhook-secret: given without webhook-url, it would sign nothing")
            if (problem := events.secret_problem(self.webhook_secret)) is not None:
                raise SettingsError(f"webhook-secret: {problem}")
        if not 0 < self.webhook_timeout <= 600:
            raise SettingsError("webhook-timeout: must be above 0 and at most 600 seconds, got "
                                f"{self.webhook_timeout!r}")


    @property
    def signing_secret(self) -> str:
        """What deliveries to `webhook_url` are signed with: the one given, or one derived from the seed."""
        return self.webhook_secret or events.new_secret(self.seed, "configured")


def parse_start_time(value: str | float | int | None) -> float | None:
    """Accept unix seconds or an ISO 8601 timestamp (UTC when no offset is given)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(
            f"start-time: expected unix seconds or an ISO 8601 time such as 2025-01-01T00:00:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
