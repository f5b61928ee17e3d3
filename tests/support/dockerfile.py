"""Read ``deploy/Dockerfile`` well enough to check it and to rebuild its install directory.

Docker cannot run on the test machines, so the tests read the Dockerfile
instead: which files its ``COPY`` lines put where ``RUN pip install .`` runs,
and what that ``RUN`` line asks pip for. :func:`build_context` copies exactly
those files out of the checkout, so a test can install from what the image
would hold rather than from the whole tree.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

_CONTINUATION = re.compile(r"\\\n")
_PIP_INSTALL = re.compile(r"\bpip3? install\b")


@dataclass(frozen=True, slots=True)
class Copy:
    """One ``COPY`` from the build context: its sources and its absolute destination."""

    sources: tuple[str, ...]
    dest: str


@dataclass(frozen=True, slots=True)
class Install:
    """The ``RUN`` line that installs syncer: the working directory and pip's arguments."""

    workdir: str
    args: tuple[str, ...]

    @property
    def target(self) -> str:
        """The absolute directory pip installs from: its one argument that is not an option."""
        [path] = [a for a in self.args if not a.startswith("-")]
        return posixpath.normpath(posixpath.join(self.workdir, path))


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` for every line, continuations joined, comments dropped."""
    text = _CONTINUATION.sub(" ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _in_workdir(path: Path) -> Iterator[tuple[str, str, str]]:
    """``(INSTRUCTION, arguments, WORKDIR in effect)`` for every instruction."""
    workdir = "/"
    for keyword, rest in instructions(path):
        if keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, rest))
        yield keyword, rest, workdir


def copies(path: Path = DOCKERFILE) -> list[Copy]:
    """Every ``COPY`` from the build context (not ``--from`` a stage), destinations absolute."""
    found = []
    for keyword, rest, workdir in _in_workdir(path):
        words = shlex.split(rest)
        if keyword not in ("COPY", "ADD") or any(w.startswith("--from") for w in words):
            continue
        *sources, dest = [w for w in words if not w.startswith("--")]
        absolute = posixpath.normpath(posixpath.join(workdir, dest))
        # A trailing slash (or ".") means "into this directory"; normpath drops it.
        if dest.endswith(("/", "/.")) or dest == ".":
            absolute = absolute.rstrip("/") + "/"
        found.append(Copy(tuple(sources), absolute))
    return found


def pip_installs(path: Path = DOCKERFILE) -> list[Install]:
    """Every ``pip install`` command of every ``RUN`` line, with the WORKDIR it runs in."""
    found = []
    for keyword, rest, workdir in _in_workdir(path):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            if _PIP_INSTALL.search(command):
                words = shlex.split(command)
                found.append(Install(workdir, tuple(words[words.index("install") + 1 :])))
    return found


def pip_install(path: Path = DOCKERFILE) -> Install:
    """The one ``pip install`` command; fails if there is not exactly one."""
    found = pip_installs(path)
    assert len(found) == 1, f"{path}: expected one pip install, found {found}"
    return found[0]


def installed_from(path: Path = DOCKERFILE) -> dict[str, str]:
    """What lands in the install directory: relative path there → source in the build context."""
    prefix = pip_install(path).target.rstrip("/") + "/"
    placed: dict[str, str] = {}
    for copy in copies(path):
        for source in copy.sources:
            target = (
                copy.dest + posixpath.basename(source) if copy.dest.endswith("/") else copy.dest
            )
            if target.startswith(prefix):
                placed[target[len(prefix) :]] = source
    return placed


def build_context(into: Path, path: Path = DOCKERFILE, root: Path = ROOT) -> Path:
    """Copy into ``into`` what the image's install directory holds before ``pip install``."""
    into.mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for target, source in installed_from(path).items():
        origin, destination = root / source, into / target
        if origin.is_dir():
            shutil.copytree(origin, destination, ignore=skip)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, destination)
    return into


def env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The variables ``ENV`` lines set (``ENV A=1 B=2``; the legacy ``ENV A 1`` too)."""
    found: dict[str, str] = {}
    for keyword, rest in instructions(path):
        if keyword != "ENV":
            continue
        words = shlex.split(rest)
        if words and "=" not in words[0]:
            found[words[0]] = " ".join(words[1:])
            continue
        found.update(word.split("=", 1) for word in words)  # type: ignore[misc]
    return found
