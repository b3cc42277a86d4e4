"""mockbatch: a local, faithful stand-in for the OpenAI Batch API."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["MockBatchServer", "Settings", "__version__", "create_app"]


def __getattr__(name: str) -> object:
    # Imported on demand so that importing the package (as the pytest plugin does) stays cheap.
    if name == "MockBatchServer":
        from mockbatch.server import MockBatchServer

        return MockBatchServer
    if name == "Settings":
        from mockbatch.settings import Settings

        return Settings
    if name == "create_app":
        from mockbatch.app import create_app

        return create_app
    raise AttributeError(f"module 'mockbatch' has no attribute {name!r}")
