"""The import graph points one way, down the layers the packages name, with no cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("syncer", "workers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _internal(target: str) -> str | None:
    """The project module ``target`` names, or None for a third-party one."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges = {_internal(t) for t in _imported(name, path)}
        graph[name] = {e for e in edges if e and e != name and not name.startswith(e + ".")}
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _violations(importer: str, forbidden: str) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name == importer or name.startswith(importer + ".")
        for target in targets
        if target == forbidden or target.startswith(forbidden + ".")
    )


def test_the_graph_sees_the_package() -> None:
    assert "syncer.engine.copypath" in GRAPH["syncer.embedded.executor"]
    assert "syncer.registry.client" in GRAPH


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_a_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: The layers, bottom first. A module may import from its own package and
#: from lower layers only; two packages on one level never import each other.
LAYERS: list[tuple[str, ...]] = [
    ("syncer",),  # defaults, errors, text, backoff, metrics: the foundation
    ("syncer.oci",),  # image formats, no I/O
    ("syncer.registry",),  # the registry client
    ("syncer.layout",),  # OCI image layouts and archives: the registry operations on disk
    ("syncer.config",),  # files and rules
    ("syncer.engine",),  # the one copy path
    ("syncer.embedded", "syncer.fleet.protocol"),
    ("syncer.fleet.state",),
    ("syncer.fleet.steps",),
    ("syncer.fleet",),  # broker, planner, schedules, beat
    ("syncer.cli",),
    ("syncer.__main__",),
    ("workers",),
]


def package_of(module: str) -> str:
    """The most specific package of :data:`LAYERS` that holds ``module``."""
    names = [name for level in LAYERS for name in level]
    holders = [n for n in names if module == n or module.startswith(n + ".")]
    return max(holders, key=len)


def rank(module: str) -> int:
    home = package_of(module)
    return next(i for i, level in enumerate(LAYERS) if home in level)


#: The two executors: neither imports the other, at any level.
EXECUTORS = ("syncer.embedded", "syncer.fleet")


def _executor(module: str) -> str | None:
    return next((e for e in EXECUTORS if module == e or module.startswith(e + ".")), None)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points up a layer, sideways on its level, or across the executors."""
    return sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if package_of(target) != package_of(name)
        and (rank(target) >= rank(name) or _crosses(name, target))
    )


def _crosses(name: str, target: str) -> bool:
    here, there = _executor(name), _executor(target)
    return here is not None and there is not None and here != there


def test_imports_point_down() -> None:
    assert upward_imports(GRAPH) == []


def test_every_module_has_a_layer() -> None:
    assert {package_of(m) for m in MODULES} == {n for level in LAYERS for n in level}


@pytest.mark.parametrize(
    ("importer", "target"),
    [
        ("syncer.oci.manifest", "syncer.registry.client"),
        ("syncer.registry.throttle", "syncer.engine.transfer"),
        ("syncer.embedded.executor", "syncer.fleet.state.plans"),
        ("syncer.fleet.state.plans", "syncer.embedded.executor"),
        ("syncer.fleet.state.plans", "syncer.fleet.steps.tagsteps"),
        ("syncer.engine.copypath", "syncer.cli.main"),
        ("syncer", "workers.tasks"),
    ],
)
def test_an_upward_or_sideways_import_is_caught(importer: str, target: str) -> None:
    assert upward_imports({importer: {target}}) == [f"{importer} imports {target}"]


def test_a_downward_import_passes() -> None:
    graph = {
        "workers.tasks": {"syncer.fleet.steps.tagsteps"},
        "syncer.fleet.planner": {"syncer.engine.jobs"},
    }
    assert upward_imports(graph) == []


def test_workers_use_the_fleet_not_the_cli_or_the_embedded_executor() -> None:
    assert [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name.startswith("workers")
        for target in targets
        if target.startswith(("syncer.cli", "syncer.embedded"))
    ] == []


def test_only_the_cli_entry_points_import_the_cli() -> None:
    outside = {
        name
        for name, targets in GRAPH.items()
        if not name.startswith("syncer.cli") and name != "syncer.__main__"
        if any(t.startswith("syncer.cli") for t in targets)
    }
    assert outside == set()


def test_celery_enters_syncer_through_its_two_boundaries_only() -> None:
    """``fleet/broker.py`` sends and watches tasks; ``fleet/beat.py`` holds redbeat's entries."""
    importers = sorted(
        name
        for name, path in MODULES.items()
        if name.startswith("syncer.")
        for target in _imported(name, path)
        if target.split(".")[0] in {"celery", "kombu", "redbeat"}
    )
    assert set(importers) <= {"syncer.fleet.broker", "syncer.fleet.beat"}
    assert "syncer.fleet.broker" in importers
