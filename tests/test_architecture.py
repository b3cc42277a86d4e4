"""The layers stay one-way: HTTP layer → engine → domain → leaves, read off every import in the package
(function-level ones too), so that a wrong arrow fails here rather than rotting in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mockbatch"

ENTRY = {"__main__", "cli", "pytest_plugin", "server", "app", "receiver", ""}  # "" is the package's own __init__
LEAVES = {"errors", "ids", "objects", "clock", "settings", "store", "tokens", "operations", "catalog", "events"}
DOMAIN = {"plan", "lifecycle", "scenarios", "validation", "generators", "jobs", "traffic", "linecheck"}


def layer(module: str) -> str:
    top = module.split(".")[0]
    if top in ENTRY:
        return "entry"
    if top == "api":
        return "api"
    if top == "engine":
        return "engine"
    if top in DOMAIN:
        return "domain"
    if top in LEAVES:
        return "leaf"
    raise AssertionError(f"mockbatch.{module} belongs to no layer: add it to one in {__file__}")


ORDER = ["leaf", "domain", "engine", "api", "entry"]


def imports() -> dict[str, set[str]]:
    """Each module (relative to the package) and the package modules it imports, anywhere in its code."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "mockbatch":
                    deps |= {a.name for a in node.names if a.name != "__version__"}
                elif node.module.startswith("mockbatch."):
                    deps.add(node.module.removeprefix("mockbatch."))
                elif node.module.split(".")[0] in ("starlette", "uvicorn", "faker"):
                    deps.add("<" + node.module.split(".")[0] + ">")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("mockbatch."):
                        deps.add(alias.name.removeprefix("mockbatch."))
                    elif alias.name.split(".")[0] in ("starlette", "uvicorn", "faker"):
                        deps.add("<" + alias.name.split(".")[0] + ">")
        found[module] = deps
    return found


IMPORTS = imports()


@pytest.mark.parametrize("module", sorted(IMPORTS))
def test_imports_point_down_or_sideways(module: str) -> None:
    mine = ORDER.index(layer(module))
    upward = [dep for dep in IMPORTS[module] if not dep.startswith("<") and ORDER.index(layer(dep)) > mine]
    assert not upward, f"mockbatch.{module} ({layer(module)}) imports a higher layer: {sorted(upward)}"


def test_the_specific_rules() -> None:
    for module, deps in IMPORTS.items():
        top = module.split(".")[0]
        if layer(module) in ("leaf", "domain", "engine"):
            assert not deps & {"<starlette>", "<uvicorn>"}, f"{module} speaks HTTP"
        if layer(module) == "leaf":
            assert all(layer(d) == "leaf" for d in deps if not d.startswith("<")), f"{module} is no leaf"
        if top in ("plan", "lifecycle"):  # pure: no I/O, no clock, no jobs
            assert deps <= {"plan", "errors", "ids"}, f"{module} is not pure: {sorted(deps)}"
        if top == "validation":  # `mockbatch validate` loads no generator and no Faker
            assert not any(d.startswith("generators") or d == "<faker>" for d in deps), module
        if top == "api":
            assert "store" not in deps, f"{module} reaches the store past the engine"
        if top in ("generators", "validation", "scenarios", "lifecycle", "plan"):
            assert not {"jobs", "store", "traffic"} & deps, f"{module} reaches up into {sorted(deps)}"
        assert "cli" not in deps or module == "__main__", f"{module} imports the CLI"
        assert "pytest_plugin" not in deps, f"{module} imports the pytest plugin"
    assert {m for m, deps in IMPORTS.items() if any(d == "api" or d.startswith("api.") for d in deps)} - {
        "app", "server"} <= {m for m in IMPORTS if m.startswith("api")}, "only app and server compose the HTTP layer"
