"""The command line: `mockbatch serve` (and later subcommands). A thin shell over Settings and serve()."""

from __future__ import annotations

import sys

import click

from mockbatch import __version__
from mockbatch.settings import Settings, SettingsError, parse_start_time

STARTUP_FAILURE = 3


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
              help="How much faster than real time the real clock runs.")
@click.option("--seed", default=0, show_default=True, type=int, envvar=_env("SEED"),
              help="Seed for ids and generated content: same seed, inputs and clock moves give the same bytes.")
@click.option("--start-time", default=None, envvar=_env("START_TIME"),
              help="Virtual time at first start: unix seconds or ISO 8601. Default: now.")
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
def serve(api_keys: tuple[str, ...], start_time: str | None, **options: object) -> None:
    """Run the server."""
    from mockbatch.server import serve as run

    keys = tuple(k.strip() for key in api_keys for k in key.split(",") if k.strip())
    try:
        settings = Settings(api_keys=keys, start_time=parse_start_time(start_time), **options)  # type: ignore[arg-type]
    except SettingsError as exc:
        click.echo(f"mockbatch: error: {exc}", err=True)
        sys.exit(STARTUP_FAILURE)
    run(settings)
