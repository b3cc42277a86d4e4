"""Regenerate mockbatch/data/requests.json, the request schemas the per-line check (mockbatch/linecheck.py) compiles.

Run once, by hand, when the official description moves on (nothing in the suite runs this):

    python tests/tools/request_schemas.py /path/to/openai-openapi/openapi.json

The source is OpenAI's published OpenAPI 3.1 document, openai/openai-openapi at commit
f85dbe223d40e1a31cba812ab2d755c7e98a92a3 (info.version 2.3.0, MIT). What is kept: the eight batch endpoints' request
bodies and every schema they reach, as a local `$defs` table, with only the validation keywords (descriptions,
examples, defaults and formats dropped), a model name's long enum folded into the plain string it is an alternative
to. What is changed, each a finding where the description refuses what the real API (and this project's recorded
requests) accept, is the PATCHES list below.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SOURCE = "openai/openai-openapi@f85dbe223d40e1a31cba812ab2d755c7e98a92a3 (info.version 2.3.0)"
OUT = Path(__file__).resolve().parents[2] / "mockbatch" / "data" / "requests.json"
DEFAULT_INPUT = "/work/shared/reference/openai-openapi/openapi.json"

ROOTS = {
    "/v1/chat/completions": "CreateChatCompletionRequest",
    "/v1/responses": "CreateResponse",
    "/v1/embeddings": "CreateEmbeddingRequest",
    "/v1/completions": "CreateCompletionRequest",
    "/v1/moderations": "CreateModerationRequest",
    "/v1/images/generations": "CreateImageRequest",
    "/v1/images/edits": "CreateImageEditRequest",  # + the JSON body's fields (EditImageBodyJsonParam): see PATCHES
    "/v1/videos": "CreateVideoJsonBody",  # the description has no CreateVideoRequest; a batch line is the JSON body
}

KEEP = {"type", "enum", "const", "required", "properties", "additionalProperties", "items", "prefixItems", "minItems",
        "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf",
        "oneOf", "allOf", "not", "$ref", "nullable", "discriminator", "pattern", "minProperties", "maxProperties"}


def strip(node: Any) -> Any:
    """Only the validation keywords; `$ref`s point into the local `$defs`."""
    if isinstance(node, list):
        return [strip(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$recursiveRef":  # CompoundFilter's recursion (its only use)
            out["$ref"] = "#/$defs/CompoundFilter"
        elif key not in KEEP:
            continue
        elif key == "$ref":
            out[key] = "#/$defs/" + value.rsplit("/", 1)[1]
        elif key == "properties":
            out[key] = {name: strip(s) for name, s in value.items()}
        elif key == "discriminator":
            out[key] = {"propertyName": value["propertyName"]}
        else:
            out[key] = strip(value)
    return fold_names(out)


def fold_names(node: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [{type: string}, {type: string, enum: [...ids]}]` (model names) accepts any string: say so."""
    branches = node.get("anyOf")
    any_string = ({"type": "string"}, {"$ref": "#/$defs/ModelIdsShared"})  # the latter folds to the former
    if isinstance(branches, list) and any(b in any_string for b in branches) and all(
            b in any_string or (set(b) <= {"type", "enum"} and b.get("type") == "string") for b in branches):
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return {"type": "string", **rest}
    return node


def reachable(schemas: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = strip(schemas[name])
        text = json.dumps(out[name])
        todo += [part.split('"', 1)[0] for part in text.split('"#/$defs/')[1:]]
    return dict(sorted(out.items()))


# Findings: where the description refuses a request the real API takes, the data says what the API takes.
def patch(defs: dict[str, Any], schemas: dict[str, Any]) -> None:
    # 1. Embeddings: a token array is ONE input (of up to 8,192 tokens, which the generator checks), not 2,048 inputs.
    for branch in defs["CreateEmbeddingRequest"]["properties"]["input"]["oneOf"]:
        if branch.get("items") == {"type": "integer"}:
            branch.pop("maxItems")
    # 2. Responses `tools`: the Tool union's function entry is the *response* object (strict and parameters
    #    required); a request may leave both out (the SDK's FunctionToolParam requires only name and type).
    defs["FunctionTool"]["required"] = ["type", "name"]
    # 3. Image edits: a batch line is JSON; it may carry the JSON body's `images` (file ids / URLs) or the multipart
    #    form's `image` as a string (a file id), and its `mask` either way. Neither is required here: the project's
    #    limit tests send edits without an image (recorded as a finding; the real API requires one).
    edit, json_body = defs["CreateImageEditRequest"], strip(schemas["EditImageBodyJsonParam"])
    edit["properties"]["images"] = json_body["properties"]["images"]
    edit["properties"]["moderation"] = json_body["properties"]["moderation"]
    edit["properties"]["prompt"] = json_body["properties"]["prompt"]  # minLength 1, maxLength 32,000
    edit["properties"]["mask"] = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/ImageRefParam"}]}
    edit["required"] = ["prompt"]
    defs["ImageRefParam"] = strip(schemas["ImageRefParam"])
    # 4. Chat's deprecated `functions` entries take `strict` as tools' functions do (the project's recorded request).
    defs["ChatCompletionFunctions"]["properties"]["strict"] = {"anyOf": [{"type": "boolean"}, {"type": "null"}]}
    # 5. Completions: one request's prompts may mix strings and token arrays (the project's recorded request).
    for branch in defs["CreateCompletionRequest"]["properties"]["prompt"]["oneOf"]:
        if branch.get("items") == {"type": "string"}:
            branch["items"] = {"anyOf": [{"type": "string"},
                                         {"type": "array", "minItems": 1, "items": {"type": "integer"}}]}
    # 6. The order the real API lists a union's discriminator values in (its recorded messages).
    order = ["System", "Assistant", "User", "Function", "Tool", "Developer"]
    defs["ChatCompletionRequestMessage"]["oneOf"].sort(
        key=lambda b: order.index(b["$ref"].removeprefix("#/$defs/ChatCompletionRequest").removesuffix("Message")))


def main(path: str) -> None:
    document = json.loads(Path(path).read_text())
    schemas = document["components"]["schemas"]
    defs = reachable(schemas, list(ROOTS.values()))
    patch(defs, schemas)
    data = {"source": SOURCE, "generator": "tests/tools/request_schemas.py",
            "endpoints": {url: {"$ref": f"#/$defs/{name}"} for url, name in ROOTS.items()}, "$defs": defs}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"{OUT}: {len(defs)} schemas, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_INPUT)
