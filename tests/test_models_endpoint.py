"""GET /v1/models and /v1/models/{model}, from the server's catalog, through the official SDK."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from mockbatch import catalog

MODELS = '''
[models."ft:gpt-4o-mini:acme::x1"]
endpoints = ["/v1/chat/completions"]
snapshot = "ft:gpt-4o-mini-2024-07-18:acme::x1"
'''


def test_the_catalog_is_listed(server_factory, tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(MODELS)
    server = server_factory(models_file=str(path))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    listed = client.models.list()
    ids = [m.id for m in listed.data]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert {"gpt-4o-mini", "gpt-4o-mini-2024-07-18", "text-embedding-3-small", "sora-2",
            "ft:gpt-4o-mini:acme::x1", "ft:gpt-4o-mini-2024-07-18:acme::x1"} <= set(ids)
    assert set(ids) == set(catalog.DEFAULT.models) | {"ft:gpt-4o-mini:acme::x1", "ft:gpt-4o-mini-2024-07-18:acme::x1"}
    mini = client.models.retrieve("gpt-4o-mini")
    assert mini.model_dump(exclude_unset=True) == {"id": "gpt-4o-mini", "object": "model",
                                                   "created": 1721260800, "owned_by": "system"}  # 2024-07-18
    assert client.models.retrieve("sora-2").created == 1_700_000_000  # no date in its name: the fixed day
    assert client.models.retrieve("ft:gpt-4o-mini:acme::x1").owned_by == "org-mockbatch"
    raw = client.models.with_raw_response.list().http_response.json()
    assert set(raw) == {"object", "data"} and raw["object"] == "list"


def test_an_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-9")
    assert err.value.response.json() == {"error": {
        "message": "The model 'gpt-9' does not exist or you do not have access to it.",
        "type": "invalid_request_error", "param": None, "code": "model_not_found"}}


def test_scenario_faults_reach_the_models_operations(server_factory, tmp_path: Path) -> None:
    (tmp_path / "models_429.toml").write_text('''
description = "The models list is rate limited twice."
[[faults]]
operation = "models.list"
status = 429
times = 2
headers = { "retry-after-ms" = "10" }
''')
    server = server_factory(scenarios_dir=str(tmp_path), scenario="models_429")
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=2)
    assert client.models.list().data
    seen = [(e["operation"], e["status"]) for e in server.requests()]
    assert seen == [("models.list", 429), ("models.list", 429), ("models.list", 200)]
    client.models.retrieve("gpt-4o")
    assert server.requests()[-1]["operation"] == "models.retrieve"
