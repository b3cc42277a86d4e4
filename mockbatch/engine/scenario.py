"""The active scenario: which one the server runs, and the one a request names instead."""

from __future__ import annotations

from mockbatch.errors import InvalidRequest
from mockbatch.plan import Phase, Plan
from mockbatch.scenarios import Scenario, ScenarioBook
from mockbatch.settings import Settings


class ActiveScenario:
    def __init__(self, book: ScenarioBook, settings: Settings) -> None:
        self.book = book
        self.current = book.configure(settings.scenario)
        # The server's own timings, which a scenario's phases override.
        s = settings
        self.base = Plan(Phase(s.validating_seconds), s.request_seconds, Phase(), Phase(s.finalizing_seconds),
                         Phase(s.cancelling_seconds), shuffle=s.output_order == "shuffled")

    def find(self, name: str, param: str | None = None) -> Scenario:
        self.book.check_name(name, param)  # a plain name, never a path
        try:
            return self.book.get(name)
        except KeyError:
            raise InvalidRequest(f"Unknown scenario '{name}'. Known scenarios: {', '.join(self.book.names())}.",
                                 param=param, code="scenario_not_found") from None

    def pick(self, *names: str | None) -> Scenario:
        """The most specific scenario named (batch metadata, then request header), else the active one."""
        for name, param in zip(names, ("metadata.mockbatch_scenario", None), strict=False):
            if name:
                return self.find(name, param)
        return self.current

    def plan(self, *names: str | None) -> Plan:
        """The plan a batch created now is frozen with."""
        return self.pick(*names).plan(self.base)

    def use(self, name: str) -> Scenario:
        self.current = self.find(name, "name")
        return self.current

    def reset(self) -> None:
        self.current = self.book.configured
