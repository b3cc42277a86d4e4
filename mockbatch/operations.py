"""Every HTTP operation the server answers, declared once, as plain data.

An API surface is a table: its path prefix and its operations, each with its name (as the SDKs call it),
method, path template and a description. The HTTP layer derives from it the Starlette routes (attaching
a handler to each name), the request journal's operation names and the matcher of scenario faults, the
names a scenario file may give, and the paths of /openapi.json. It imports nothing of the api layer, so
that scenarios.py (below it) can check names against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")  # a path parameter: matches [^/]+, as Starlette does; no converters


@dataclass(frozen=True)
class Operation:
    name: str  # as the SDKs call it ("batches.retrieve"): what the journal shows and a scenario's fault names
    method: str
    path: str  # a Starlette path template under the surface's prefix: "/batches/{batch_id}"
    operation_id: str  # in /openapi.json
    description: str
    hot: bool = False  # tried first by the router and the journal's matcher: the batch calls, which clients poll

    def __post_init__(self) -> None:
        literal = PARAM.sub("", self.path)
        if not self.path.startswith("/") or "{" in literal or "}" in literal or self.method != self.method.upper():
            raise ValueError(f"{self.name}: bad method or path template: {self.method} {self.path}")

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(PARAM.findall(self.path))


@dataclass(frozen=True)
class Surface:
    name: str
    prefix: str  # "/v1"; "" for paths at the root
    operations: tuple[Operation, ...]
    journaled: bool = False  # its requests go in the journal and get the scenario's API faults
    documented: bool = True  # its operations are in /openapi.json
    errors: str = "openai"  # the style of its error answers (mockbatch/api/render.py ERROR_STYLES): "anthropic"

    def __post_init__(self) -> None:
        names = [op.name for op in self.operations]
        routes = [(op.method, op.path) for op in self.operations]
        if len(set(names)) != len(names) or len(set(routes)) != len(routes):
            raise ValueError(f"surface {self.name}: an operation name, or a method and path, is declared twice")

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(f"surface {self.name} has no operation {name!r}")

    def full_path(self, op: Operation) -> str:
        """The path template a client calls: the operation's under the surface's prefix."""
        return self.prefix + op.path


OPENAI = Surface("openai", "/v1", journaled=True, operations=(
    Operation("files.create", "POST", "/files", "createFile", "Upload a file (multipart: file, purpose)."),
    Operation("files.list", "GET", "/files", "listFiles", "List the caller's files."),
    Operation("files.retrieve", "GET", "/files/{file_id}", "retrieveFile", "A file object."),
    Operation("files.content", "GET", "/files/{file_id}/content", "downloadFile", "A file's bytes."),
    Operation("files.delete", "DELETE", "/files/{file_id}", "deleteFile", "Delete a file."),
    Operation("batches.create", "POST", "/batches", "createBatch", "Start a batch over an uploaded file.",
              hot=True),
    Operation("batches.list", "GET", "/batches", "listBatches", "List the caller's batches.", hot=True),
    Operation("batches.retrieve", "GET", "/batches/{batch_id}", "retrieveBatch", "A batch, as it stands.", hot=True),
    Operation("batches.cancel", "POST", "/batches/{batch_id}/cancel", "cancelBatch", "Cancel a batch.", hot=True),
    Operation("uploads.create", "POST", "/uploads", "createUpload", "Open an upload of a large file in parts."),
    Operation("uploads.parts.create", "POST", "/uploads/{upload_id}/parts", "addUploadPart",
              "Add a part (multipart: data)."),
    Operation("uploads.complete", "POST", "/uploads/{upload_id}/complete", "completeUpload",
              "Join the parts into a file."),
    Operation("uploads.cancel", "POST", "/uploads/{upload_id}/cancel", "cancelUpload", "Cancel an upload."),
    Operation("models.list", "GET", "/models", "listModels", "The models the server knows (gateways ask at start)."),
    Operation("models.retrieve", "GET", "/models/{model}", "retrieveModel", "A model."),
    # OpenAI's webhook endpoints: where batch events are delivered (signed), managed as the SDK's `client.webhooks`.
    Operation("webhooks.create", "POST", "/webhook_endpoints", "createWebhookEndpoint",
              "Register an endpoint for events; answers its signing secret, once."),
    Operation("webhooks.list", "GET", "/webhook_endpoints", "listWebhookEndpoints",
              "The caller's webhook endpoints, newest first."),
    Operation("webhooks.retrieve", "GET", "/webhook_endpoints/{webhook_endpoint_id}", "retrieveWebhookEndpoint",
              "A webhook endpoint."),
    Operation("webhooks.update", "POST", "/webhook_endpoints/{webhook_endpoint_id}", "updateWebhookEndpoint",
              "Change an endpoint's name, URL or event types."),
    Operation("webhooks.delete", "DELETE", "/webhook_endpoints/{webhook_endpoint_id}", "deleteWebhookEndpoint",
              "Delete a webhook endpoint."),
    Operation("webhooks.rotate_secret", "POST", "/webhook_endpoints/{webhook_endpoint_id}/rotate_secret",
              "rotateWebhookEndpointSecret", "A new signing secret (the old one may sign on for 24 hours)."),
    Operation("webhooks.test", "POST", "/webhook_endpoints/{webhook_endpoint_id}/test", "testWebhookEndpoint",
              "Send a sample event of a type to the endpoint now."),
    Operation("webhooks.event_types.list", "GET", "/webhook_event_types", "listWebhookEventTypes",
              "The event types an endpoint may subscribe to."),
))

# Anthropic's Message Batches, on the same engine. Its own Mount ("/v1/messages"), matched before OpenAI's "/v1".
ANTHROPIC = Surface("anthropic", "/v1/messages", journaled=True, documented=False, errors="anthropic", operations=(
    Operation("messages.batches.create", "POST", "/batches", "createMessageBatch",
              "Create a Message Batch from inline requests.", hot=True),
    Operation("messages.batches.list", "GET", "/batches", "listMessageBatches", "List the caller's Message Batches.",
              hot=True),
    Operation("messages.batches.retrieve", "GET", "/batches/{batch_id}", "retrieveMessageBatch",
              "A Message Batch, as it stands.", hot=True),
    Operation("messages.batches.cancel", "POST", "/batches/{batch_id}/cancel", "cancelMessageBatch",
              "Cancel a Message Batch.", hot=True),
    Operation("messages.batches.delete", "DELETE", "/batches/{batch_id}", "deleteMessageBatch",
              "Delete a Message Batch that has ended."),
    Operation("messages.batches.results", "GET", "/batches/{batch_id}/results", "messageBatchResults",
              "A Message Batch's results, as JSON Lines."),
))



def _azure(name: str, prefix: str) -> Surface:
    """Azure OpenAI's Files, Uploads, Batches and Models at `prefix` (no webhook endpoints: Azure has none): OpenAI's
    operations themselves (so the journal and a scenario's faults treat an Azure request as OpenAI's: a fault on
    `batches.create` hits both). Errors in Azure's envelope; auth by `api-key` (or a bearer token): render.tenant.
    Not in /openapi.json, so OpenAI's operationIds are not repeated there."""
    return Surface(name, prefix, journaled=True, documented=False, errors="azure",
                   operations=tuple(op for op in OPENAI.operations if not op.name.startswith("webhooks.")))


# Azure OpenAI, on the same engine: the classic paths (`{endpoint}/openai/batches?api-version=...`, as
# `openai.AzureOpenAI` calls them) and the v1 paths (`{endpoint}/openai/v1/batches`, no api-version).
AZURE = _azure("azure", "/openai")
AZURE_V1 = _azure("azure_v1", "/openai/v1")

CONTROL = Surface("control", "/_mockbatch", operations=(
    Operation("control.health", "GET", "/health", "health", "Is the server up (open even with --api-key)."),
    Operation("control.reset", "POST", "/reset", "reset", "Forget every file, batch and journal entry."),
    Operation("control.clock", "GET", "/clock", "clock", "The clock's mode and virtual time."),
    Operation("control.clock.advance", "POST", "/clock/advance", "advanceClock", "Move the virtual clock on."),
    Operation("control.scenarios.list", "GET", "/scenarios", "listScenarios", "The scenarios the server knows."),
    Operation("control.scenario.retrieve", "GET", "/scenario", "getScenario", "The scenario in force."),
    Operation("control.scenario.update", "PUT", "/scenario", "useScenario", "Put another scenario in force."),
    Operation("control.batches.transition", "POST", "/batches/{batch_id}/transition", "transitionBatch",
              "Move a batch to a status now."),
    Operation("control.requests.list", "GET", "/requests", "listRequests", "The request journal."),
    Operation("control.requests.clear", "DELETE", "/requests", "clearRequests", "Empty the request journal."),
    Operation("control.webhooks.list", "GET", "/webhooks", "listWebhookDeliveries",
              "The webhook delivery log: each event sent, to where, every attempt, the next one."),
))

META = Surface("meta", "", documented=False, operations=(
    Operation("openapi", "GET", "/openapi.json", "openapi", "This server's OpenAPI document."),
))

# In routing order: a longer prefix before the one it extends (/v1/messages before /v1, /openai/v1 before /openai).
SURFACES = (ANTHROPIC, OPENAI, AZURE_V1, AZURE, CONTROL, META)


def surface_at(path: str) -> Surface | None:
    """The surface a request path is under (the longest prefix that holds it), if any."""
    held = [s for s in SURFACES if s.prefix and (path == s.prefix or path.startswith(s.prefix + "/"))]
    return max(held, key=lambda s: len(s.prefix)) if held else None


def journaled_names() -> tuple[str, ...]:
    """The operations a scenario's fault may name: those of the journaled surfaces, in declaration order."""
    return tuple(dict.fromkeys(op.name for s in SURFACES if s.journaled for op in s.operations))
