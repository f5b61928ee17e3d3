"""The suite's own scheduling: a module that shares a module-scoped fixture runs on one process.

tests/conftest.py marks such a module's tests with one ``xdist_group``, and
``scripts/test`` runs ``--dist loadgroup``. pytest 9 stopped reading the node
id that pytest-xdist 3.8 renames to send a group to one process, and the
groups were silently ignored; this runs a small suite the same way and checks
where its tests ran.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_MODULE = """
import os

import pytest


@pytest.fixture(scope="module")
def shared() -> str:
    return os.environ["PYTEST_XDIST_WORKER"]


@pytest.mark.parametrize("n", range(8))
def test_one(n: int, shared: str) -> None:
    assert shared == os.environ["PYTEST_XDIST_WORKER"]
"""


def test_a_module_sharing_a_module_fixture_runs_on_one_process(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (suite / "test_shared.py").write_text(_MODULE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(suite),
            str(suite),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    workers = re.findall(r"\[(gw\d+)\] \[.*\] PASSED", done.stdout)
    assert len(workers) == 8 and len(set(workers)) == 1, done.stdout[-2000:]
