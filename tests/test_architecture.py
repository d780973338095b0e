"""The layout promises of the README's "Layout" section that import-linter cannot state."""

from __future__ import annotations

from pathlib import Path

import grimp

import recording

MAX_TOP_LEVEL_MODULES = 12


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over every import grimp found (module level, in functions, under TYPE_CHECKING)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("recording", include_external_packages=False)
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_a_module_that_imports_in_a_circle_is_found() -> None:
    """The cycle finder itself: a made-up two-module cycle is reported."""

    class Cyclic:
        modules = {"a", "b", "c"}

        def find_modules_directly_imported_by(self, module: str) -> set[str]:
            return {"a": {"b"}, "b": {"a"}, "c": {"a"}}[module]

    components = _strongly_connected(Cyclic())  # type: ignore[arg-type]
    assert {"a", "b"} in components and {"c"} in components


def test_top_level_holds_only_what_django_looks_for() -> None:
    package = Path(recording.__file__).parent
    modules = sorted(p.name for p in package.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
    concerns = {p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"signalling", "uploads", "library", "live", "media", "jobs", "web", "models", "admin"} <= concerns
