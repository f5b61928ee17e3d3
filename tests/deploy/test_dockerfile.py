"""deploy/Dockerfile installs syncer as a user would, from every file the install needs.

Docker cannot run on the test machines, so these read the Dockerfile; the
build and run of what it copies is tests/install/test_clean_install.py.
"""

from __future__ import annotations

import fnmatch
import posixpath
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.dockerfile import (
    ROOT,
    Copy,
    build_context,
    copies,
    env,
    installed_from,
    instructions,
    pip_install,
    pip_installs,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Debian stable has 3.11
    pytest.skip("tomllib needs Python 3.11", allow_module_level=True)


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _top_level_packages() -> set[str]:
    """The top-level packages of the checkout that pyproject's packages.find includes."""
    include = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    return {
        d.name
        for d in ROOT.iterdir()
        if (d / "__init__.py").is_file() and any(fnmatch.fnmatch(d.name, p) for p in include)
    }


def test_copies_every_package_and_file_the_install_reads() -> None:
    placed = installed_from()
    packages = _top_level_packages()
    assert {"syncer", "workers"} <= packages
    # Each package lands under its own name where `pip install` runs.
    assert all(placed.get(name) == name for name in packages), placed
    # setuptools reads the readme named in pyproject: without it the build fails.
    assert {"pyproject.toml", _pyproject()["project"]["readme"]} <= placed.keys()


def test_installs_once_not_editable_and_without_extras() -> None:
    # One pip install in the whole image: no separately installed runtime
    # dependency can hide one that pyproject fails to declare.
    [install] = pip_installs()
    assert install.args == (".",), install


def test_runs_the_installed_package_not_a_source_copy() -> None:
    install = pip_install()
    [run] = [rest for keyword, rest in instructions() if keyword == "RUN"]
    assert f"rm -rf {install.target}" in run
    # `python -m celery` puts the working directory first on sys.path.
    final_workdir = [rest for keyword, rest in instructions() if keyword == "WORKDIR"][-1]
    assert not posixpath.normpath(final_workdir).startswith(install.target)
    assert instructions()[-2:] == [("ENTRYPOINT", '["syncer"]'), ("CMD", '["worker"]')]


def test_metrics_listen_on_every_address_of_the_container() -> None:
    # Prometheus scrapes a worker or `syncer metrics` on the pod's address, not
    # loopback; tests/fleet/test_metrics_addr.py runs a worker with this value.
    assert env()["SYNCER_METRICS_ADDR"] == "0.0.0.0"
    assert env()["SYNCER_AUTH_FILE"] == "/etc/syncer/auth.yaml"


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", ".git"} <= set(patterns)
    for source in installed_from().values():
        for pattern in patterns:
            assert not fnmatch.fnmatch(source, pattern.lstrip("/")), (source, pattern)


def test_reader_handles_flags_stages_continuations_and_absolute_targets(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim AS build\n"
        "WORKDIR /app\n"
        "COPY --from=build /x /y\n"
        "# COPY ignored ./\n"
        "COPY --chown=1:1 pyproject.toml \\\n    README.md /opt/src/\n"
        "COPY syncer /opt/src/syncer\n"
        "COPY workers ./workers\n"
        "RUN apt-get update; pip install --no-cache-dir /opt/src && rm -rf /opt/src\n"
        "ENV A=1 B='two words'\n"
        "ENV LEGACY value with spaces\n"
    )
    assert env(dockerfile) == {"A": "1", "B": "two words", "LEGACY": "value with spaces"}
    assert copies(dockerfile) == [
        Copy(("pyproject.toml", "README.md"), "/opt/src/"),
        Copy(("syncer",), "/opt/src/syncer"),
        Copy(("workers",), "/app/workers"),
    ]
    assert pip_install(dockerfile).target == "/opt/src"
    # workers/ went to /app, not where pip installs from: the check above would catch it.
    assert installed_from(dockerfile) == {
        "pyproject.toml": "pyproject.toml",
        "README.md": "README.md",
        "syncer": "syncer",
    }
    context = build_context(tmp_path / "context", dockerfile)
    assert sorted(p.name for p in context.iterdir()) == ["README.md", "pyproject.toml", "syncer"]
    assert not list(context.rglob("__pycache__"))
