"""The engine: the API's operations over the store, the clock and the jobs, as small services.

    Files      files by tenant, streamed into blobs           (files.py; Uploads shares its chunk loop)
    Uploads    the Uploads API: a file sent in parts           (uploads.py)
    Batches    create, retrieve, list, cancel                  (batches.py)
    Scheduler  moves batches on, runs the jobs they wait for   (scheduler.py: the one place statuses change,
               through the pure lifecycle)
    Control    clock, reset, scenarios, forced moves, start    (control.py)
    MessageBatches  Anthropic's Message Batches, as batches    (messages.py)
               of the same Batches and Scheduler
    Webhooks   the endpoints a tenant registers                (webhooks.py)
    Deliveries events made as batches end (told by the         (deliveries.py)
               Scheduler), signed and sent to the endpoints

`app.py` builds each one and hands it what it needs; `Engine` only holds them for the HTTP layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockbatch.catalog import Catalog
from mockbatch.clock import Clock
from mockbatch.engine.batches import Batches
from mockbatch.engine.control import Control
from mockbatch.engine.deliveries import Deliveries
from mockbatch.engine.files import Files
from mockbatch.engine.messages import MessageBatches
from mockbatch.engine.scenario import ActiveScenario
from mockbatch.engine.scheduler import Scheduler
from mockbatch.engine.uploads import Uploads
from mockbatch.engine.webhooks import Webhooks
from mockbatch.traffic import Traffic

__all__ = ["ActiveScenario", "Batches", "Control", "Deliveries", "Engine", "Files", "MessageBatches", "Scheduler",
           "Uploads", "Webhooks"]


@dataclass(frozen=True)
class Engine:
    clock: Clock
    files: Files
    uploads: Uploads
    batches: Batches
    scheduler: Scheduler
    control: Control
    active: ActiveScenario
    traffic: Traffic
    models: Catalog  # OpenAI's view of the table (catalog.Catalog.without_messages)
    messages: MessageBatches
    webhooks: Webhooks
    deliveries: Deliveries

    @property
    def failures(self) -> list[BaseException]:
        return self.scheduler.failures

