"""Valid JSON out, always: a body number out of float range (1e999, which Python reads as inf) anywhere in a body
gets the real per-line 400, and every line of every output and error file parses with a strict JSON parser."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from mockbatch import catalog
from mockbatch.generators.base import UNPARSEABLE
from tests.helpers import start_batch


def strict(line: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")
    return json.loads(line, parse_constant=refuse)


def raw_line(i: int, endpoint: str, body: str) -> str:
    """A line written by hand: `json.dumps` cannot write 1e999."""
    return f'{{"custom_id": "line-{i}", "method": "POST", "url": "{endpoint}", "body": {body}}}'


MESSAGES = '"messages": [{"role": "user", "content": "hi"}]'
HUGE_BOUNDS = json.dumps({"type": "json_schema", "json_schema": {"name": "n", "schema": {
    "type": "object", "required": ["a", "b", "c"], "properties": {
        "a": {"type": "number", "minimum": -1.7e308, "maximum": 1.7e308},
        "b": {"type": "number", "minimum": -1.7e308, "maximum": 1.7e308, "multipleOf": 1e-300},
        "c": {"type": "integer", "minimum": 10**400}}}}})

# (endpoint, bodies): the bodies with "1e999" get UNPARSEABLE, the others an answer.
CASES = {
    catalog.CHAT: [
        f'{{"model": "gpt-4o-mini", {MESSAGES}, "temperature": 1e999}}',
        f'{{"model": "gpt-4o-mini", {MESSAGES}, "metadata": {{"k": "v"}}, "logit_bias": {{"1": -1e999}}}}',
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi", "x": [[1, [2e999]]]}]}',
        f'{{"model": "gpt-4o-mini", {MESSAGES}, "temperature": 1.9999999999999998, "response_format": '
        f'{HUGE_BOUNDS}}}',  # extreme finite numbers, within the parameters' ranges: answered
        f'{{"model": "gpt-4o-mini", {MESSAGES}, "seed": {2**62}, "logit_bias": {{"1": -100}}}}',
    ],
    catalog.RESPONSES: [
        '{"model": "gpt-4o-mini", "input": "hi", "temperature": 1e999}',  # echoed: once written as Infinity
        '{"model": "gpt-4o-mini", "input": "hi", "top_p": -1e999}',
        '{"model": "gpt-4o-mini", "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": '
        '{"type": "object", "properties": {"x": {"type": "number", "maximum": 1e999}}}}]}',
        '{"model": "gpt-4o-mini", "input": "hi", "temperature": 1e-400, "top_p": 0.999999999999999999999}',
    ],
    catalog.EMBEDDINGS: [
        '{"model": "text-embedding-3-small", "input": "hi", "dimensions": 1e999}',
        '{"model": "text-embedding-3-small", "input": "hi", "dimensions": 4}',
    ],
    catalog.MODERATIONS: [
        '{"model": "omni-moderation-latest", "input": "hi", "extra": {"deep": [{"deeper": 1E+999}]}}',
        '{"model": "omni-moderation-latest", "input": "hi"}',
    ],
    catalog.COMPLETIONS: [
        '{"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "temperature": 1e999}',
        '{"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}',
    ],
    catalog.IMAGES_GENERATIONS: [
        '{"model": "gpt-image-1", "prompt": "a cat", "n": 1e999}',
        '{"model": "gpt-image-1", "prompt": "a cat"}',
    ],
    catalog.VIDEOS: [
        '{"model": "sora-2", "prompt": "a wave", "seconds": 1e999}',
        '{"model": "sora-2", "prompt": "a wave"}',
    ],
}


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_every_line_is_strict_json(server, client: openai.OpenAI, endpoint: str) -> None:
    bodies = CASES[endpoint]
    batch = start_batch(client, [raw_line(i, endpoint, b) for i, b in enumerate(bodies)], endpoint=endpoint)
    server.advance(60)
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed", batch.errors
    rows = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        for line in client.files.content(file_id).content.splitlines() if file_id else []:
            row = strict(line)
            rows[int(row["custom_id"].split("-")[1])] = row["response"]
    assert sorted(rows) == list(range(len(bodies)))
    for i, body in enumerate(bodies):
        if "e999" in body.lower().replace("e+999", "e999"):
            assert rows[i] == {**rows[i], "status_code": 400, "body": UNPARSEABLE}, i
        else:
            assert rows[i]["status_code"] == 200, (i, rows[i]["body"])
    assert batch.request_counts is not None
    assert batch.request_counts.failed == sum("e999" in b.lower().replace("e+999", "e999") for b in bodies)


def test_unparseable_wording() -> None:
    assert UNPARSEABLE == {"error": {
        "message": "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                   "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
                   "JSON. If you have trouble figuring out how to fix this, please contact us through our help "
                   "center at help.openai.com.)",
        "type": "invalid_request_error", "param": None, "code": None}}
