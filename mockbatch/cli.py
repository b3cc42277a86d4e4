"""The command line: `mockbatch serve` (and later subcommands). A thin shell over Settings and serve()."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mockbatch import __version__, catalog
from mockbatch.settings import Settings, SettingsError

# An unusable setting stops `serve` with this status, the one click gives a bad option value of its own (a
# --clock it does not know). server.STARTUP_FAILURE (3) is for a start that fails with usable settings.
STARTUP_FAILURE = 2


def _env(name: str) -> str:
    return f"MOCKBATCH_{name}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mockbatch")
def main() -> None:
    """mockbatch: a local, faithful stand-in for the OpenAI Batch API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar=_env("HOST"), help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, envvar=_env("PORT"),
              help="Port to bind (0 picks a free one).")
@click.option("--db", default=None, envvar=_env("DB"),
              help="SQLite file holding all state; survives restarts. Default: a temporary file removed on exit.")
@click.option("--clock", "clock", default="real", show_default=True, envvar=_env("CLOCK"),
              type=click.Choice(["real", "manual"]),
              help="real: virtual time runs at --time-scale x real time. manual: it moves only through "
                   "POST /_mockbatch/clock/advance.")
@click.option("--time-scale", default=1.0, show_default=True, type=float, envvar=_env("TIME_SCALE"),
              help="How much faster than real time the real clock runs (above 0, up to 1000000).")
@click.option("--seed", default=0, show_default=True, type=int, envvar=_env("SEED"),
              help="Seed for ids and generated content: same seed, inputs and clock moves give the same bytes.")
@click.option("--start-time", default=None, envvar=_env("START_TIME"),
              help="Virtual time at first start: unix seconds or ISO 8601, in the years 1 to 9999. Default: now.")
@click.option("--api-key", "api_keys", multiple=True, envvar=_env("API_KEYS"),
              help="Accept only this bearer token (repeatable; env: comma-separated). Default: accept any; "
                   "each token is its own tenant.")
@click.option("--validating-seconds", default=1.0, show_default=True, type=float,
              envvar=_env("VALIDATING_SECONDS"), help="Virtual seconds a batch spends validating.")
@click.option("--request-seconds", default=0.5, show_default=True, type=float, envvar=_env("REQUEST_SECONDS"),
              help="Virtual seconds each request takes while in_progress.")
@click.option("--finalizing-seconds", default=1.0, show_default=True, type=float,
              envvar=_env("FINALIZING_SECONDS"), help="Virtual seconds a batch spends finalizing.")
@click.option("--cancelling-seconds", default=1.0, show_default=True, type=float,
              envvar=_env("CANCELLING_SECONDS"), help="Virtual seconds a batch spends cancelling.")
@click.option("--output-order", default="shuffled", show_default=True, type=click.Choice(["shuffled", "input"]),
              envvar=_env("OUTPUT_ORDER"),
              help="shuffled: output lines in a seeded order that differs from the input, as the real API may. "
                   "input: keep input order.")
@click.option("--enqueued-token-limit", default=None, type=click.IntRange(min=1), envvar=_env("ENQUEUED_TOKEN_LIMIT"),
              help="Enqueued-token limit per model and tenant: a batch whose estimated tokens, with those of the "
                   "tenant's validating/in_progress/finalizing batches for the model, exceed it fails with "
                   "token_limit_exceeded. Default: each model's own limit (2,000,000 for gpt-4o-mini).")
@click.option("--scenario", default=None, envvar=_env("SCENARIO"),
              help="The active scenario: a bundled or --scenarios-dir name, or a path to a TOML file. "
                   "Default: the server's own timings, no faults.")
@click.option("--scenarios-dir", default=None, envvar=_env("SCENARIOS_DIR"),
              help="A directory of your own scenario files, added beside the bundled ones.")
@click.option("--models", "models_file", default=None, envvar=_env("MODELS"),
              help="A TOML file of extra models (fine-tunes, new snapshots) for the model table.")
@click.option("--workers", default=None, type=click.IntRange(0, 64), envvar=_env("WORKERS"),
              help="Worker processes that validate big input files and write big outputs (started with the server).  "
                   "[default: one per core, up to 4; 0: none, every job runs in a thread]")
@click.option("--max-db-size", "max_db_bytes", default=None, type=click.IntRange(min=1 << 16),
              envvar=_env("MAX_DB_SIZE"),
              help="Cap the database at this many bytes: past it, uploads and creates get 507, as on a full disk.  "
                   "[default: what the disk holds]")
@click.option("--webhook-url", default=None, envvar=_env("WEBHOOK_URL"),
              help="Send every tenant's batch events (batch.completed, .failed, .expired, .cancelled) to this URL, "
                   "signed, beside the endpoints registered through /v1/webhook_endpoints.")
@click.option("--webhook-secret", default=None, envvar=_env("WEBHOOK_SECRET"),
              help="The whsec_... secret --webhook-url's deliveries are signed with.  [default: one derived from "
                   "--seed, printed at start]")
@click.option("--webhook-timeout", default=5.0, show_default=True, type=float, envvar=_env("WEBHOOK_TIMEOUT"),
              help="Real seconds a webhook delivery may take before it counts as failed (and is retried).")
def serve(api_keys: tuple[str, ...], start_time: str | None, **options: object) -> None:
    """Run the server."""
    from mockbatch.scenarios import ScenarioBook, ScenarioError
    from mockbatch.server import serve as run

    try:
        settings = Settings(api_keys=api_keys, start_time=start_time, warm_workers=True,  # type: ignore[arg-type]
                            **options)
        book = ScenarioBook(settings.scenarios_dir)
        book.configure(settings.scenario)
        catalog.build(settings.models_file)
        if settings.db:
            check_db(settings.db, settings.max_db_bytes)
    except (SettingsError, ScenarioError, catalog.ModelsFileError) as exc:
        fail(str(exc))
    except KeyError:
        fail(f"scenario: unknown scenario '{settings.scenario}'; known: {', '.join(book.names())}")
    run(settings)


@main.command()
@click.option("--dir", "folder", default=None, envvar=_env("SCENARIOS_DIR"),
              help="A directory of your own scenario files, listed beside the bundled ones.")
def scenarios(folder: str | None) -> None:
    """List and validate the scenario files."""
    from mockbatch.scenarios import ScenarioBook, ScenarioError

    try:
        book = ScenarioBook(folder)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    width = max(len(name) for name in book.names())
    for scenario in book.scenarios.values():
        click.echo(f"{scenario.name:<{width}}  {scenario.description}  [{scenario.source}]")


def check_db(path: str, max_bytes: int | None = None) -> None:
    """Open the database (creating it, as the server would) so that an unusable --db is a SettingsError here,
    not a traceback from a server that failed to start."""
    import asyncio
    import sqlite3

    from mockbatch.store import Store

    async def open_once() -> None:
        async with Store.open(path, max_bytes):
            pass

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # mkdir's word for "a file is in the way"
        raise SettingsError(f"db: cannot use {path}: {exc.filename} is not a directory") from None
    except OSError as exc:
        raise SettingsError(f"db: cannot use {path}: {exc.strerror or exc}") from None
    try:
        sqlite3.connect(path).close()  # first without aiosqlite, whose thread outlives the loop if opening fails
        asyncio.run(open_once())
    except Exception as exc:  # a directory, not a database, read-only, a full disk: whatever stops the server
        raise SettingsError(f"db: cannot use {path}: {exc}") from None


def fail(message: str, code: int = STARTUP_FAILURE) -> None:
    click.echo(f"mockbatch: error: {message}", err=True)
    sys.exit(code)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--endpoint", required=True,
              type=click.Choice(catalog.ENDPOINTS),
              help="The batch endpoint the file is meant for, e.g. /v1/chat/completions.")
@click.option("--enqueued-token-limit", default=None, type=click.IntRange(min=1),
              help="Check the file's estimated tokens against this limit instead of the model's default.")
@click.option("--models", "models_file", default=None, envvar=_env("MODELS"),
              help="A TOML file of extra models, as `mockbatch serve --models` takes it.")
def validate(file: str, endpoint: str, enqueued_token_limit: int | None, models_file: str | None) -> None:
    """Check a batch input file offline, with the server's own validator.

    Prints each error as a failed batch would report it, one a line, and exits 1; or prints a one-line
    summary (requests, model, estimated tokens) and exits 0.
    """
    from pathlib import Path

    from mockbatch import validation

    try:
        models = catalog.build(models_file)
    except catalog.ModelsFileError as exc:
        fail(str(exc))
    path = Path(file)
    refusals = validation.check_file(path.name, path.stat().st_size)
    with path.open("rb") as lines:
        report = validation.validate(lines, endpoint, keep_bodies=False, models=models)
    errors = report.errors
    if report.ok and report.model is not None:
        limit_error = validation.token_limit_error(report.model, report.tokens, 0, enqueued_token_limit, models)
        errors = [limit_error] if limit_error else []
    for line in refusals + [validation.describe(err) for err in errors]:
        click.echo(line)
    if refusals or errors:
        sys.exit(1)
    click.echo(validation.summary(report, models))
