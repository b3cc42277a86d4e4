"""The model table can be extended with a TOML file of the user's own models."""

from __future__ import annotations

import openai
import pytest
from click.testing import CliRunner

from mockbatch import catalog, cli
from tests.helpers import chat_line, read_jsonl, start_batch

MODELS = '''
[models."ft:gpt-4o-mini:acme::x1"]
endpoints = ["/v1/chat/completions", "/v1/responses"]
snapshot = "ft:gpt-4o-mini-2024-07-18:acme::x1"
enqueued_token_limit = 500000
'''


def test_a_fine_tuned_model_runs_a_batch(server_factory, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(catalog, "MODELS", dict(catalog.MODELS))  # the table is process-wide
    monkeypatch.setattr(catalog, "ENQUEUED_TOKEN_LIMITS", dict(catalog.ENQUEUED_TOKEN_LIMITS))
    path = tmp_path / "models.toml"
    path.write_text(MODELS)
    server = server_factory(models_file=str(path))
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    b = start_batch(client, [chat_line(i, model="ft:gpt-4o-mini:acme::x1") for i in range(3)])
    server.advance(60)
    b = client.batches.retrieve(b.id)
    assert b.status == "completed" and b.model == "ft:gpt-4o-mini-2024-07-18:acme::x1"
    assert {line["response"]["body"]["model"] for line in read_jsonl(client, b.output_file_id)} == {b.model}
    assert catalog.ENQUEUED_TOKEN_LIMITS["ft:gpt-4o-mini:acme::x1"] == 500_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[models.m]\nendpoints = ["/v1/nowhere"]', "models.m.endpoints: expected a list of batch endpoints"),
        ('[models.m]\nendpoints = ["/v1/embeddings"]\ndimensions = "big"', "models.m.dimensions: expected int"),
        ('[models.m]\nendpoints = ["/v1/embeddings"]\ncolour = 1', "models.m.colour: unknown key"),
        ("models = [", "cannot read"),
    ],
)
def test_a_bad_models_file_is_a_one_line_error(tmp_path, text: str, reason: str) -> None:
    path = tmp_path / "models.toml"
    path.write_text(text)
    result = CliRunner().invoke(cli.main, ["serve", "--models", str(path)])
    assert result.exit_code == cli.STARTUP_FAILURE
    assert result.output.strip().count("\n") == 0 and reason in result.output
