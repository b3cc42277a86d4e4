"""The Starlette routes, built from the operation tables (mockbatch.operations) and the handlers attached to them.

Each handler is attached by its operation's name right above its definition (`@OPENAI.handles("files.list")`);
a name missing from the table, or an operation left without a handler, fails at import, never silently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from mockbatch import operations
from mockbatch.operations import Surface

Endpoint = Callable[[Request], Awaitable[Response]]


class Handlers:
    """One surface's handlers, by operation name."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self.endpoints: dict[str, Endpoint] = {}

    def handles(self, name: str) -> Callable[[Endpoint], Endpoint]:
        self.surface.operation(name)  # a KeyError at import for a name the table lacks

        def attach(endpoint: Endpoint) -> Endpoint:
            if name in self.endpoints:
                raise ValueError(f"{self.surface.name}: {name} has two handlers")
            self.endpoints[name] = endpoint
            return endpoint

        return attach

    def routes(self) -> list[BaseRoute]:
        """A Route per operation, the hot ones first (Starlette tries routes in order), under a Mount of the
        surface's prefix."""
        missing = [op.name for op in self.surface.operations if op.name not in self.endpoints]
        if missing:
            raise LookupError(f"{self.surface.name}: no handler for {', '.join(missing)}")
        ordered = sorted(self.surface.operations, key=lambda op: not op.hot)  # stable: declaration order otherwise
        routes: list[BaseRoute] = [Route(op.path, self.endpoints[op.name], methods=[op.method]) for op in ordered]
        return [Mount(self.surface.prefix, routes=routes)] if self.surface.prefix else routes


OPENAI = Handlers(operations.OPENAI)
ANTHROPIC = Handlers(operations.ANTHROPIC)
AZURE = Handlers(operations.AZURE)
AZURE_V1 = Handlers(operations.AZURE_V1)
CONTROL = Handlers(operations.CONTROL)
META = Handlers(operations.META)
HANDLERS = {h.surface.name: h for h in (OPENAI, ANTHROPIC, AZURE, AZURE_V1, CONTROL, META)}


def build_routes() -> list[BaseRoute]:
    """Every surface's routes, in the tables' order; called once every handler module is imported."""
    return [route for surface in operations.SURFACES for route in HANDLERS[surface.name].routes()]
