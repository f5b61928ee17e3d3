"""A fresh virtualenv holding syncer's wheel and nothing else, as a user would make it.

The wheel is built from exactly the files ``deploy/Dockerfile`` copies, and
installed with no extras into a venv made without ``--system-site-packages``.
Every process of that venv runs with an environment stripped of ``PYTHON*``
and ``VIRTUAL_ENV`` and with the user site off, so nothing of the test
session's own venv (which has the dev extras) can fill a gap in the wheel.
Pip keeps the machine's configuration (index, find-links, cache).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.dockerfile import ROOT, build_context

#: Seconds any one pip or venv command may take (a cold cache downloads ~30 wheels).
PIP_TIMEOUT = 300.0
#: Seconds the index probe may take: a machine offline should find out quickly.
PROBE_TIMEOUT = 60.0


class IndexUnreachable(Exception):
    """pip could not fetch the build requirements: offline, or no index configured."""


@dataclass(frozen=True, slots=True)
class CleanInstall:
    """A venv with syncer's wheel installed, and how to run its programs."""

    venv: Path
    wheel: Path
    env: dict[str, str]
    #: Seconds spent building the wheel, and creating the venv and installing into it.
    build_seconds: float
    install_seconds: float

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.venv / "bin" / "python"

    @property
    def syncer(self) -> Path:
        """The ``syncer`` console script pip wrote into the venv."""
        return self.venv / "bin" / "syncer"


def clean_env(venv: Path, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``base`` as an activated ``venv`` would see it, without anything that widens sys.path."""
    env = {k: v for k, v in base.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)]),
        VIRTUAL_ENV=str(venv),
        PYTHONNOUSERSITE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _run(argv: Sequence[str | Path], env: Mapping[str, str], cwd: Path, timeout: float) -> str:
    """Run a setup command; fail with its output if it fails."""
    proc = subprocess.run(
        [str(a) for a in argv],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} -> {proc.returncode}\n{proc.stderr}")
    return proc.stdout


def probe_index(build_requires: Sequence[str], workdir: Path) -> None:
    """Raise :class:`IndexUnreachable` unless pip can download the build requirements."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(workdir / "probe")]
    argv += ["--timeout", "15", "--retries", "1", *build_requires]
    try:
        _run(argv, os.environ, workdir, PROBE_TIMEOUT)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        last = str(exc).strip().splitlines()[-1:] or ["timed out"]
        raise IndexUnreachable(f"pip cannot reach a package index: {last[0]}") from exc


def build_wheel(source: Path, dist: Path) -> Path:
    """``pip wheel`` of the project in ``source`` (no dependencies); the wheel's path."""
    argv: list[str | Path] = [sys.executable, "-m", "pip", "wheel", "--no-deps"]
    _run([*argv, "--wheel-dir", dist, source], os.environ, dist.parent, PIP_TIMEOUT)
    [wheel] = dist.glob("syncer-*.whl")
    return wheel


def top_level_names(wheel: Path) -> set[str]:
    """What a wheel installs at the top of site-packages, its metadata directories left out."""
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    return {name for name in tops if not name.endswith((".dist-info", ".data"))}


def make_clean_install(workdir: Path) -> CleanInstall:
    """Build the wheel from the Dockerfile's files and install it alone into a fresh venv."""
    started = time.monotonic()
    wheel = build_wheel(build_context(workdir / "context"), workdir / "dist")
    built = time.monotonic()
    venv = workdir / "venv"
    env = clean_env(venv)
    _run([sys.executable, "-m", "venv", venv], env, workdir, PIP_TIMEOUT)
    _run([venv / "bin" / "python", "-m", "pip", "install", wheel], env, workdir, PIP_TIMEOUT)
    return CleanInstall(venv, wheel, env, built - started, time.monotonic() - built)


def source_modules(root: Path = ROOT, packages: Sequence[str] = ("syncer", "workers")) -> set[str]:
    """Every module of ``packages`` in the checkout, by dotted name (``__main__`` left out)."""
    names = set()
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names
