"""/v1/models: the server's model table (gateways such as the LiteLLM proxy ask for it at start)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mockbatch.api.render import engine, json_response, tenant
from mockbatch.api.routing import OPENAI
from mockbatch.errors import NotFound
from mockbatch.objects import model_object


@OPENAI.handles("models.list")
async def list_models(request: Request) -> Response:
    tenant(request)
    models = engine(request).models.models
    return json_response({"object": "list", "data": [
        model_object(name, models[name].created, models[name].owned_by) for name in sorted(models)]})


@OPENAI.handles("models.retrieve")
async def retrieve_model(request: Request) -> Response:
    tenant(request)
    name = request.path_params["model"]
    model = engine(request).models.models.get(name)
    if model is None:
        raise NotFound(f"The model '{name}' does not exist or you do not have access to it.", code="model_not_found")
    return json_response(model_object(name, model.created, model.owned_by))
