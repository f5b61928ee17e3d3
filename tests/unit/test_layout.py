"""The tree says what it holds: each package names a layer, each module is tested.

A module counts as tested when some test imports it (a test file of its own
is the usual way, not the only one: a thin module may be tested through the
test of the module it serves). Unit test folders mirror the packages, so a
folder left behind by a move fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
PACKAGES = ("syncer", "workers")

#: Modules that no test needs to import, and why (none today).
EXCUSED: dict[str, str] = {}


def _dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(
    _dotted(p)
    for package in PACKAGES
    for p in (ROOT / package).rglob("*.py")
    if p.name != "__init__.py"
)
INITS = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("__init__.py"))


def imported_by_tests() -> set[str]:
    """Every ``syncer``/``workers`` module some file under tests/ imports, or names to a child."""
    seen: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                seen |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                seen.add(node.module)
                seen |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # A module a test loads in a child process: app_settings("workers.beat").
                seen.add(node.value)
    return seen


IMPORTED = imported_by_tests()


@pytest.mark.parametrize("module", MODULES)
def test_each_module_is_imported_by_some_test(module: str) -> None:
    if module in EXCUSED:
        return
    assert module in IMPORTED, f"{module}: no test imports it"


def test_every_excuse_names_a_module_that_exists_and_needs_one() -> None:
    for module in EXCUSED:
        assert module in MODULES, f"{module}: excused but gone"
        assert module not in IMPORTED, f"{module}: a test imports it now, drop its excuse"


@pytest.mark.parametrize("init", INITS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_package_says_what_it_holds(init: Path) -> None:
    assert ast.get_docstring(ast.parse(init.read_text())), f"{init}: no package docstring"


def test_unit_test_folders_mirror_the_packages() -> None:
    for folder in (p for p in UNIT.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        inner = folder.relative_to(UNIT).parts
        home = ROOT.joinpath(*inner) if inner[0] == "workers" else ROOT.joinpath("syncer", *inner)
        assert (home / "__init__.py").is_file(), f"{folder}: no package {home} to mirror"


def test_the_scan_sees_each_way_of_importing() -> None:
    assert {"syncer.engine.copypath", "syncer.registry.auth", "workers.tasks"} <= IMPORTED
