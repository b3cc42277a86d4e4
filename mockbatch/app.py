"""The composition root: builds the Starlette app from settings; the lifespan owns the database."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from mockbatch import catalog, jobs
from mockbatch.api import routes
from mockbatch.api.faults import Faults
from mockbatch.api.render import EXCEPTION_HANDLERS, CommonHeaders
from mockbatch.clock import Clock
from mockbatch.engine import (
    ActiveScenario,
    Batches,
    Control,
    Deliveries,
    Engine,
    Files,
    MessageBatches,
    Scheduler,
    Uploads,
    Webhooks,
)
from mockbatch.scenarios import ScenarioBook
from mockbatch.settings import Settings
from mockbatch.store import Store
from mockbatch.traffic import Traffic


@contextlib.contextmanager
def database_path(settings: Settings) -> Any:
    """The configured database, or a fresh temporary one that is removed afterwards."""
    if settings.db:
        Path(settings.db).parent.mkdir(parents=True, exist_ok=True)
        yield settings.db
        return
    folder = tempfile.mkdtemp(prefix="mockbatch-")
    try:
        yield str(Path(folder) / "mockbatch.sqlite3")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build_engine(store: Store, settings: Settings) -> Engine:
    """Every collaborator of the engine, built once here and handed what it needs."""
    clock = Clock(settings.clock, settings.time_scale, settings.start_time)
    runner = jobs.Runner(settings.workers)
    traffic = Traffic(settings.seed)
    active = ActiveScenario(ScenarioBook(settings.scenarios_dir), settings)
    built = catalog.build(settings.models_file, settings.catalog or catalog.DEFAULT)
    everything = built.with_messages()  # what the jobs run: OpenAI's endpoints and Anthropic's Messages
    models = built.without_messages()  # what OpenAI's surface accepts and lists
    scheduler = Scheduler(store, clock, runner, everything, settings.seed, settings.enqueued_token_limit,
                          settings.tick_seconds)
    files = Files(store, clock, settings.seed, runner)
    batches = Batches(store, clock, settings.seed, scheduler, files, active, models)
    messages = MessageBatches(store, clock, settings.seed, scheduler, batches, active, everything)
    deliveries = Deliveries(store, clock, settings.seed, active, traffic, scheduler.report, settings.webhook_url,
                            settings.signing_secret, settings.webhook_timeout, settings.tick_seconds)
    scheduler.ended = deliveries.batch_ended
    control = Control(store, clock, scheduler, batches, files, active, traffic, deliveries, settings.start_time)
    return Engine(clock, files, Uploads(store, clock, settings.seed), batches, scheduler, control, active, traffic,
                  models, messages, Webhooks(store, clock, settings.seed, deliveries), deliveries)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        with database_path(settings) as path:
            async with Store.open(path, settings.max_db_bytes) as store:
                engine = build_engine(store, settings)
                app.state.engine = engine
                app.state.failures = engine.failures
                await engine.control.start(settings.warm_workers)
                try:
                    yield {"engine": engine, "settings": settings}
                finally:
                    await engine.deliveries.stop()
                    await engine.scheduler.stop()

    return Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[Middleware(CommonHeaders, seed=settings.seed), Middleware(Faults)],
        lifespan=lifespan,
    )
