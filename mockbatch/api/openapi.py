"""GET /openapi.json: the server's own surface as an OpenAPI 3 document. Its paths, methods and operationIds
come from the operation tables (mockbatch.operations); what each operation takes and answers is written here.

It describes what this server answers (the Files, Batches and Uploads API under /v1 and the control plane
under /_mockbatch), every error in the OpenAI envelope, so that clients and fuzzers can hold it to it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockbatch import __version__
from mockbatch.api.render import json_response
from mockbatch.api.routing import META
from mockbatch.catalog import ENDPOINTS
from mockbatch.events import EVENT_TYPES
from mockbatch.lifecycle import Status
from mockbatch.operations import SURFACES, Surface
from mockbatch.validation import FILE_PURPOSES

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema; every property required unless told (OpenAPI 3.0 wants no empty `required`)."""
    required = list(properties) if required is None else required
    return {"type": "object", "properties": properties, **({"required": required} if required else {}), **extra}


INT = {"type": "integer"}
STR = {"type": "string"}
EVENT_TYPE = {"type": "string", "enum": list(EVENT_TYPES)}
EVENT_LIST = {"type": "array", "items": EVENT_TYPE, "minItems": 1}

SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": obj({"message": STR, "type": STR, "param": nullable(STR), "code": nullable(STR)})}),
    "File": obj({
        "id": STR, "object": {"type": "string", "enum": ["file"]}, "bytes": INT, "created_at": INT,
        "expires_at": nullable(INT), "filename": STR, "purpose": STR,
        "status": {"type": "string", "enum": ["uploaded", "processed", "error"]}, "status_details": nullable(STR)}),
    "FileList": obj({"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": ref("File")},
                     "first_id": nullable(STR), "last_id": nullable(STR), "has_more": {"type": "boolean"}}),
    "FileDeleted": obj({"id": STR, "object": {"type": "string", "enum": ["file"]}, "deleted": {"type": "boolean"}}),
    "RequestCounts": obj({"total": INT, "completed": INT, "failed": INT}),
    "BatchError": obj({"code": nullable(STR), "message": nullable(STR), "param": nullable(STR),
                       "line": nullable(INT)}, required=["code", "message"]),
    "Usage": obj({"input_tokens": INT, "input_tokens_details": obj({"cached_tokens": INT}), "output_tokens": INT,
                  "output_tokens_details": obj({"reasoning_tokens": INT}), "total_tokens": INT}),
    "Model": obj({"id": STR, "object": {"type": "string", "enum": ["model"]}, "created": INT, "owned_by": STR}),
    "ModelList": obj({"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array",
                                                                             "items": ref("Model")}}),
    "Batch": obj({
        "id": STR, "object": {"type": "string", "enum": ["batch"]}, "endpoint": STR, "model": nullable(STR),
        "errors": nullable(obj({"object": STR, "data": {"type": "array", "items": ref("BatchError")}})),
        "input_file_id": STR, "completion_window": STR, "status": {"type": "string", "enum": [s.value for s in Status]},
        "output_file_id": nullable(STR), "error_file_id": nullable(STR), "created_at": INT,
        "in_progress_at": nullable(INT), "expires_at": nullable(INT), "finalizing_at": nullable(INT),
        "completed_at": nullable(INT), "failed_at": nullable(INT), "expired_at": nullable(INT),
        "cancelling_at": nullable(INT), "cancelled_at": nullable(INT), "request_counts": ref("RequestCounts"),
        "usage": ref("Usage"), "metadata": nullable({"type": "object", "additionalProperties": STR})}),
    "BatchList": obj({"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": ref("Batch")},
                      "first_id": nullable(STR), "last_id": nullable(STR), "has_more": {"type": "boolean"}}),
    "CreateBatch": obj({
        "input_file_id": STR, "endpoint": {"type": "string", "enum": list(ENDPOINTS)},
        "completion_window": {"type": "string", "enum": ["24h"]},
        "metadata": nullable({"type": "object", "maxProperties": 16,
                              "additionalProperties": {"type": "string", "maxLength": 512}}),
        "output_expires_after": obj({"anchor": {"type": "string", "enum": ["created_at"]},
                                     "seconds": {"type": "integer", "minimum": 3600, "maximum": 2592000}})},
        required=["input_file_id", "endpoint", "completion_window"]),
    "CreateFile": obj({"file": {"type": "string", "format": "binary"}, "purpose": {"type": "string",
                                                                                   "enum": FILE_PURPOSES}}),
    "Upload": obj({
        "id": STR, "object": {"type": "string", "enum": ["upload"]}, "bytes": INT, "created_at": INT,
        "filename": STR, "purpose": STR, "status": {"type": "string",
                                                     "enum": ["pending", "completed", "cancelled", "expired"]},
        "expires_at": INT, "file": nullable(ref("File"))}),
    "CreateUpload": obj({"filename": STR, "purpose": {"type": "string", "enum": FILE_PURPOSES}, "bytes": INT,
                         "mime_type": STR}),
    "UploadPart": obj({"id": STR, "object": {"type": "string", "enum": ["upload.part"]}, "created_at": INT,
                       "upload_id": STR}),
    "CompleteUpload": obj({"part_ids": {"type": "array", "items": STR}, "md5": STR}, required=["part_ids"]),
    "Status": obj({"status": STR}, required=["status"]),
    "Clock": obj({"mode": {"type": "string", "enum": ["real", "manual"]}, "now": {"type": "number"}}),
    "Advance": obj({"seconds": {"type": "number", "minimum": 0}}),
    "Scenario": obj({"name": STR, "description": STR}),
    "ScenarioList": obj({"data": {"type": "array", "items": obj({"name": STR, "description": STR,
                                                                 "source": STR})}}),
    "Transition": obj({"to": {"type": "string", "enum": [s.value for s in Status]}}),
    "Journal": obj({"data": {"type": "array", "items": {"type": "object"}}}),
    "WebhookEndpoint": obj(ENDPOINT := {
        "id": STR, "object": {"type": "string", "enum": ["webhook_endpoint"]}, "name": STR, "url": STR,
        "event_types": EVENT_LIST, "signing_secret_hint": STR, "created_at": INT, "updated_at": INT}),
    "WebhookEndpointWithSecret": obj({**ENDPOINT, "signing_secret": STR}),
    "WebhookEndpointList": obj({"object": {"type": "string", "enum": ["list"]},
                                "data": {"type": "array", "items": ref("WebhookEndpoint")},
                                "first_id": nullable(STR), "last_id": nullable(STR), "has_more": {"type": "boolean"}}),
    "DeletedWebhookEndpoint": obj({"id": STR, "object": {"type": "string", "enum": ["webhook_endpoint.deleted"]},
                                   "deleted": {"type": "boolean"}}),
    "WebhookEndpointTestResult": obj({
        "object": {"type": "string", "enum": ["webhook_endpoint.test"]}, "webhook_endpoint_id": STR,
        "event_type": STR, "status_code": INT, "success": {"type": "boolean", "enum": [True]}}),
    "CreateWebhookEndpoint": obj(WRITABLE := {"name": {"type": "string", "minLength": 1, "maxLength": 256},
                                              "url": {"type": "string", "maxLength": 2048},
                                              "event_types": EVENT_LIST}, additionalProperties=False),
    "UpdateWebhookEndpoint": obj(WRITABLE, required=[], additionalProperties=False),
    "RotateWebhookSecret": obj({"keep_old_secret_active_for_24_hours": {"type": "boolean"}}, required=[],
                               additionalProperties=False),
    "TestWebhookEndpoint": obj({"event_type": EVENT_TYPE}, additionalProperties=False),
    "WebhookEventTypeList": obj({"object": {"type": "string", "enum": ["list"]}, "data": EVENT_LIST}),
    "Deliveries": obj({"data": {"type": "array", "items": obj({
        "id": STR, "event": {"type": "object"}, "endpoint_id": nullable(STR), "url": STR, "tenant": nullable(STR),
        "status": {"type": "string", "enum": ["pending", "held", "delivered", "failed", "dropped"]},
        "fault": nullable({"type": "object"}), "created_at": {"type": "number"},
        "attempts": {"type": "array", "items": {"type": "object"}},
        "next_attempt_at": nullable({"type": "number"})})}}),
}


def answers(ok: str | dict[str, Any], *errors: int, media: str = JSON) -> dict[str, Any]:
    """200 with `ok` (a schema name, or a ready response), and each error status with the envelope."""
    out: dict[str, Any] = {"200": ok if isinstance(ok, dict) else {
        "description": "OK", "content": {media: {"schema": ref(ok)}}}}
    for status in errors:
        out[str(status)] = {"description": "An error, in the OpenAI envelope",
                            "content": {JSON: {"schema": ref("Error")}}}
    return out


def body(name: str, media: str = JSON) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": ref(name)}}}


def path_id(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": STR}]


def query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


LIST_FILES = [query("purpose", STR), query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
              query("order", {"type": "string", "enum": ["asc", "desc"]}), query("after", STR)]
LIST_BATCHES = [query("limit", {"type": "integer", "minimum": 1, "maximum": 100}), query("after", STR)]
V1 = (400, 401)  # every /v1 call may be malformed or lack its key
KEYED = [{}, {"bearer": []}]  # the control plane asks for a key only when the server has keys configured
CONTENT = {"description": "The file's bytes", "content": {"application/octet-stream": {"schema": {
    "type": "string", "format": "binary"}}}}

# What each operation takes and answers, by operation name (mockbatch.operations has its method, path and id).
SPECS: dict[str, dict[str, Any]] = {
    "files.create": {"requestBody": body("CreateFile", "multipart/form-data"),
                     "responses": answers("File", *V1, 413, 507)},
    "files.list": {"parameters": LIST_FILES, "responses": answers("FileList", *V1)},
    "files.retrieve": {"responses": answers("File", *V1, 404)},
    "files.content": {"responses": answers(CONTENT, *V1, 404)},
    "files.delete": {"responses": answers("FileDeleted", *V1, 404)},
    "batches.create": {"requestBody": body("CreateBatch"), "responses": answers("Batch", *V1, 413, 507)},
    "batches.list": {"parameters": LIST_BATCHES, "responses": answers("BatchList", *V1)},
    "batches.retrieve": {"responses": answers("Batch", *V1, 404)},
    "batches.cancel": {"responses": answers("Batch", *V1, 404, 409)},
    "uploads.create": {"requestBody": body("CreateUpload"), "responses": answers("Upload", *V1, 413)},
    "uploads.parts.create": {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": obj(
            {"data": {"type": "string", "format": "binary"}})}}},
        "responses": answers("UploadPart", *V1, 404, 413)},
    "uploads.complete": {"requestBody": body("CompleteUpload"), "responses": answers("Upload", *V1, 404, 413)},
    "uploads.cancel": {"responses": answers("Upload", *V1, 404)},
    "models.list": {"responses": answers("ModelList", *V1)},
    "models.retrieve": {"responses": answers("Model", *V1, 404)},
    "webhooks.create": {"requestBody": body("CreateWebhookEndpoint"),
                        "responses": answers("WebhookEndpointWithSecret", *V1, 413, 507)},
    "webhooks.list": {"parameters": LIST_BATCHES, "responses": answers("WebhookEndpointList", *V1)},
    "webhooks.retrieve": {"responses": answers("WebhookEndpoint", *V1, 404)},
    "webhooks.update": {"requestBody": body("UpdateWebhookEndpoint"),
                        "responses": answers("WebhookEndpoint", *V1, 404, 413, 507)},
    "webhooks.delete": {"responses": answers("DeletedWebhookEndpoint", *V1, 404, 507)},
    "webhooks.rotate_secret": {"requestBody": body("RotateWebhookSecret"),
                               "responses": answers("WebhookEndpointWithSecret", *V1, 404, 413, 507)},
    "webhooks.test": {"requestBody": body("TestWebhookEndpoint"),
                      "responses": answers("WebhookEndpointTestResult", *V1, 404, 413, 507)},
    "webhooks.event_types.list": {"responses": answers("WebhookEventTypeList", *V1)},
    "control.health": {"security": [], "responses": answers("Status")},
    "control.reset": {"security": KEYED, "responses": answers("Status", 401)},
    "control.clock": {"security": KEYED, "responses": answers("Clock", 401)},
    "control.clock.advance": {"security": KEYED, "requestBody": body("Advance"),
                              "responses": answers("Clock", 400, 401, 413)},
    "control.scenarios.list": {"security": KEYED, "responses": answers("ScenarioList", 401)},
    "control.scenario.retrieve": {"security": KEYED, "responses": answers("Scenario", 401)},
    "control.scenario.update": {"security": KEYED, "requestBody": body("Scenario"),
                                "responses": answers("Scenario", 400, 401, 413)},
    "control.batches.transition": {"security": KEYED, "requestBody": body("Transition"),
                                   "responses": answers("Batch", 400, 401, 404, 409, 413)},
    "control.requests.list": {"security": KEYED, "responses": answers("Journal", 401)},
    "control.requests.clear": {"security": KEYED, "responses": answers("Journal", 401)},
    "control.webhooks.list": {"security": KEYED, "responses": answers("Deliveries", 401)},
}


def paths(surfaces: tuple[Surface, ...]) -> dict[str, Any]:
    """The documented surfaces' operations as OpenAPI paths: the method, path and operationId from the tables,
    the rest from SPECS; an operation without a spec (or a spec without an operation) fails at import."""
    documented = [(surface, op) for surface in surfaces if surface.documented for op in surface.operations]
    if unmatched := {op.name for _, op in documented} ^ set(SPECS):
        raise LookupError(f"operations and OpenAPI specs do not pair up: {', '.join(sorted(unmatched))}")
    ids = [op.operation_id for _, op in documented]
    if len(set(ids)) != len(ids):
        raise ValueError("an operationId is declared twice: each must be unique in the document")
    out: dict[str, Any] = {}
    for surface, op in documented:
        item = out.setdefault(surface.full_path(op), {"parameters": [p for name in op.params for p in path_id(name)]}
                              if op.params else {})
        item[op.method.lower()] = {"operationId": op.operation_id, "summary": op.description, **SPECS[op.name]}
    return out


PATHS = paths(SURFACES)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "mockbatch", "version": __version__,
             "description": "A local stand-in for the OpenAI Batch API: Files, Batches, Uploads, webhook endpoints, "
                            "and a control plane."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
}


@META.handles("openapi")
async def openapi(request: Request) -> Response:
    return json_response(DOCUMENT)

