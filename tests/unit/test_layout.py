"""Unit tests mirror the package: each module of ``syncer/`` and ``workers/`` has its test file.

``syncer/fleet/plans.py`` is tested in ``tests/unit/fleet/test_plans.py``,
``workers/context.py`` in ``tests/unit/workers/test_context.py``. A new
module without its file fails here; so does an excuse that is no longer needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"

#: Modules without logic of their own, so without a unit test file of their own.
EXCUSED = {
    # The version string.
    "syncer/__init__.py",
    # ``python -m syncer``: one call of syncer.cli.main.main (tests/unit/cli/test_main.py).
    "syncer/__main__.py",
    # Package docstrings only.
    "syncer/cli/__init__.py",
    "syncer/fleet/__init__.py",
    "syncer/registry/__init__.py",
    "workers/__init__.py",
}

#: Modules whose tests live under another name, and where they live.
ELSEWHERE: dict[str, str] = {}


def mirrored(module: Path) -> Path:
    """The test file of ``module``: ``syncer/a/b.py`` -> ``tests/unit/a/test_b.py``."""
    package, *inner = module.relative_to(ROOT).parts
    folder = inner[:-1] if package == "syncer" else [package, *inner[:-1]]
    return UNIT.joinpath(*folder, f"test_{module.stem}.py")


MODULES = sorted(p for package in ("syncer", "workers") for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_has_its_unit_test_file(module: Path) -> None:
    name = str(module.relative_to(ROOT))
    if name in EXCUSED:
        return
    if name in ELSEWHERE:
        assert (ROOT / ELSEWHERE[name]).is_file(), f"{name}: its tests left {ELSEWHERE[name]}"
        assert not mirrored(module).exists(), f"{name}: drop it from ELSEWHERE, it is mirrored now"
        return
    assert mirrored(module).is_file(), f"{name} has no {mirrored(module).relative_to(ROOT)}"


def test_every_excuse_names_a_module_that_exists_and_needs_one() -> None:
    names = {str(m.relative_to(ROOT)) for m in MODULES}
    assert EXCUSED <= names and set(ELSEWHERE) <= names
    for name in EXCUSED:
        assert not mirrored(ROOT / name).exists(), f"{name} has a test file: drop its excuse"


def test_mirroring_follows_the_package_layout() -> None:
    assert mirrored(ROOT / "syncer" / "engine.py") == UNIT / "test_engine.py"
    assert mirrored(ROOT / "syncer" / "fleet" / "plans.py") == UNIT / "fleet" / "test_plans.py"
    assert mirrored(ROOT / "workers" / "app.py") == UNIT / "workers" / "test_app.py"
