"""Shared fixtures: a real mockbatch server on a free port, and the official SDK aimed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from mockbatch.server import MockBatchServer

START = 1_750_000_000  # a fixed virtual start, so ids and timestamps are reproducible


@pytest.fixture
def server_factory() -> Iterator[Callable[..., MockBatchServer]]:
    """Start servers with any settings; all are stopped (and checked for server errors) afterwards."""
    started: list[MockBatchServer] = []

    def start(**settings: Any) -> MockBatchServer:
        settings.setdefault("clock", "manual")
        settings.setdefault("seed", 7)
        settings.setdefault("start_time", START)
        server = MockBatchServer(**settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory: Callable[..., MockBatchServer]) -> MockBatchServer:
    return server_factory()


@pytest.fixture
def client(server: MockBatchServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
