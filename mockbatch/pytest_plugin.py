"""pytest fixtures for testing code against mockbatch, registered through the `pytest11` entry point.

    def test_batch(mockbatch, mockbatch_client):
        ...                       # a clean server with a manual clock; move it with mockbatch.advance(s)

Fixtures: `mockbatch_settings` (session; override it in a conftest.py), `mockbatch_server` (one server
per session, so one per xdist worker), `mockbatch` (per test: a reset server, checked for server-side
errors afterwards), `mockbatch_client` / `mockbatch_async_client` (the openai SDK aimed at it),
`mockbatch_anthropic_client` (the anthropic SDK aimed at the same server: its Message Batches; skipped with a reason
when `anthropic` is not installed).
`mockbatch_webhook_receiver` (per test: a started `WebhookReceiver` that records the webhooks sent to its `url`).
Marker: `@pytest.mark.mockbatch(scenario=..., clock=..., seed=..., ...)` runs a test against a server
of its own when it asks for settings the session server does not have.

All fixtures are synchronous (the server runs in its own thread), and mockbatch itself is imported
only when a fixture is used, so installing the package costs a pytest run nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import anthropic
    import openai

    from mockbatch.receiver import WebhookReceiver
    from mockbatch.server import MockBatchServer

# A manual clock at a fixed virtual start: same seed and inputs give the same ids, timestamps and bytes.
DEFAULT_SETTINGS: dict[str, Any] = {"clock": "manual", "seed": 0, "start_time": 1_735_689_600}  # 2025-01-01Z

NO_OPENAI = "the openai package is not installed (pip install openai); it is needed by the {} fixture"
NO_ANTHROPIC = ("the anthropic package is not installed (pip install anthropic); it is needed by the "
                "mockbatch_anthropic_client fixture")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mockbatch(**settings): run against a mockbatch server with these settings (scenario=, clock=, seed=, "
        "time_scale=, ...); the test gets a server of its own when they differ from the session server's.",
    )


@pytest.fixture(scope="session")
def mockbatch_settings() -> dict[str, Any]:
    """Settings for the session server, as keyword arguments of `MockBatchServer` (the CLI's option
    names). Override this fixture, keeping scope="session", to change them for a whole suite."""
    return dict(DEFAULT_SETTINGS)


@pytest.fixture(scope="session")
def mockbatch_server(mockbatch_settings: dict[str, Any]) -> Iterator[MockBatchServer]:
    """One server for the session (per xdist worker), stopped and checked for errors at the end."""
    from mockbatch.server import MockBatchServer

    with MockBatchServer(**mockbatch_settings) as server:
        yield server


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Do two settings dicts describe the same server? (Compared as Settings, so defaults count.)"""
    from mockbatch.server import server_settings

    def norm(settings: dict[str, Any]) -> Any:
        return server_settings(**{**settings, "port": 0})

    return bool(norm(a) == norm(b))


def _check_before(server: MockBatchServer) -> None:
    """Report a failure from before this test (background work, or a test using the session server
    directly) as such, rather than as this test's own."""
    from mockbatch.server import ServerError

    try:
        server.check()
    except ServerError as exc:
        raise ServerError(f"{exc} (raised before this test started)") from exc.__cause__


@pytest.fixture
def mockbatch(request: pytest.FixtureRequest, mockbatch_settings: dict[str, Any]) -> Iterator[MockBatchServer]:
    """The server for this test: clean state, the clock at its start and the configured scenario.
    Server-side exceptions raised during the test make it error at teardown."""
    marker = request.node.get_closest_marker("mockbatch")
    wanted = dict(mockbatch_settings)
    if marker is not None:
        if marker.args:
            raise TypeError("@pytest.mark.mockbatch takes settings as keyword arguments, e.g. clock='real'")
        wanted.update(marker.kwargs)
    if _same(wanted, mockbatch_settings):
        server: MockBatchServer = request.getfixturevalue("mockbatch_server")
        _check_before(server)
        server.reset()
        yield server
        server.check()
        return
    from mockbatch.server import MockBatchServer

    with MockBatchServer(**wanted) as server:
        yield server


@pytest.fixture
def mockbatch_client(mockbatch: MockBatchServer) -> Iterator[openai.OpenAI]:
    """An `openai.OpenAI` client aimed at this test's server (the SDK's default retries kept; no proxy
    from the environment, since the server is local)."""
    openai = pytest.importorskip("openai", reason=NO_OPENAI.format("mockbatch_client"))
    http = openai.DefaultHttpxClient(trust_env=False)
    client = openai.OpenAI(base_url=mockbatch.base_url, api_key=mockbatch.api_key, http_client=http)
    yield client
    client.close()


@pytest.fixture
def mockbatch_async_client(mockbatch: MockBatchServer) -> openai.AsyncOpenAI:
    """An `openai.AsyncOpenAI` client aimed at this test's server, for async tests. Its connections
    are not kept alive, so none is left open on the test's event loop when the loop closes."""
    openai = pytest.importorskip("openai", reason=NO_OPENAI.format("mockbatch_async_client"))
    limits = type(openai.DEFAULT_CONNECTION_LIMITS)(max_connections=100, max_keepalive_connections=0)
    http = openai.DefaultAsyncHttpxClient(trust_env=False, limits=limits)
    return openai.AsyncOpenAI(base_url=mockbatch.base_url, api_key=mockbatch.api_key, http_client=http)


@pytest.fixture
def mockbatch_anthropic_client(mockbatch: MockBatchServer) -> Iterator[anthropic.Anthropic]:
    """An `anthropic.Anthropic` client aimed at this test's server (its base URL without /v1, as the SDK wants it;
    the SDK's default retries kept; no proxy from the environment). Skipped when `anthropic` is not installed."""
    anthropic = pytest.importorskip("anthropic", reason=NO_ANTHROPIC)
    http = anthropic.DefaultHttpxClient(trust_env=False)
    client = anthropic.Anthropic(base_url=mockbatch.url, api_key=mockbatch.api_key, http_client=http)
    yield client
    client.close()


@pytest.fixture
def mockbatch_webhook_receiver() -> Iterator[WebhookReceiver]:
    """A started `WebhookReceiver` for this test: register its `url`, script its answers with `respond()` /
    `delay()`, and read what arrived with `wait()`; stopped afterwards."""
    from mockbatch.receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver
