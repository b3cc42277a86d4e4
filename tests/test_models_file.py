"""The model table can be extended with a TOML file of the user's own models."""

from __future__ import annotations

import openai
import pytest
from click.testing import CliRunner

from mockbatch import catalog, cli, jobs
from tests.helpers import chat_line, jsonl, read_jsonl, start_batch, worker_processes

MODELS = '''
[models."ft:gpt-4o-mini:acme::x1"]
endpoints = ["/v1/chat/completions", "/v1/responses"]
snapshot = "ft:gpt-4o-mini-2024-07-18:acme::x1"
enqueued_token_limit = 500000
'''


def test_a_fine_tuned_model_runs_a_batch(server_factory, tmp_path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(MODELS)
    server = server_factory(models_file=str(path))
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    b = start_batch(client, [chat_line(i, model="ft:gpt-4o-mini:acme::x1") for i in range(3)])
    server.advance(60)
    b = client.batches.retrieve(b.id)
    assert b.status == "completed" and b.model == "ft:gpt-4o-mini-2024-07-18:acme::x1"
    assert {line["response"]["body"]["model"] for line in read_jsonl(client, b.output_file_id)} == {b.model}
    assert "ft:gpt-4o-mini:acme::x1" not in catalog.DEFAULT.models  # the server's own table, not a global one


@pytest.mark.parametrize("workers", [0, 2])
def test_a_big_batch_for_a_custom_model_runs_in_worker_processes(server_factory, tmp_path, workers: int) -> None:
    """3,000 lines over 256 KB are validated and written by the worker processes (or threads with 0): both see
    the models file, because the catalog travels with the job."""
    path = tmp_path / "models.toml"
    path.write_text(MODELS)
    server = server_factory(models_file=str(path), workers=workers)
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    lines = [chat_line(i, model="ft:gpt-4o-mini:acme::x1", user="u" * 60) for i in range(3000)]
    assert len(jsonl(lines)) >= jobs.PROCESS_BYTES and len(lines) >= jobs.PROCESS_LINES
    b = start_batch(client, lines)
    server.advance(2 * 86400)
    b = client.batches.retrieve(b.id)
    assert b.status == "completed", b.errors
    assert b.request_counts.completed == 3000
    assert b.model == "ft:gpt-4o-mini-2024-07-18:acme::x1"
    assert len(worker_processes()) == workers  # the jobs really ran in worker processes


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


def test_the_offline_validator_takes_the_models_file_too(tmp_path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(MODELS)
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl([chat_line(i, model="ft:gpt-4o-mini:acme::x1") for i in range(3)]))
    without = CliRunner().invoke(cli.main, ["validate", str(path), "--endpoint", "/v1/chat/completions"])
    assert without.exit_code == 1 and "model_not_found" in without.output
    result = CliRunner().invoke(cli.main, ["validate", str(path), "--endpoint", "/v1/chat/completions",
                                           "--models", str(models)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "ok: 3 requests, model ft:gpt-4o-mini:acme::x1 (ft:gpt-4o-mini-2024-07-18:acme::x1)")
