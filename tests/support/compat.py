"""Run the real image-syncer and syncer side by side on the same files, and compare.

Each tool gets its own fresh destination ``docker-registry``; both read the
same source. A case writes its files once per tool (the destination host
differs), runs both as subprocesses with a deadline, and gets a
:class:`Side` for each: exit code, log, success-images file and a reader on
its destination, so the test compares what matters.

The oracle is ``../shared/bin/image-syncer`` beside the repository (see
``shared/bin/README.md``): image-syncer v1.5.5 built from its source. Without
it the compat tests skip with that reason, except in CI, where they fail.

Convention: a case where syncer differs from image-syncer on purpose is marked
``@pytest.mark.differs("why syncer's behaviour is better")``; it asserts
syncer's behaviour, and image-syncer's where that is deterministic. Every
unmarked case asserts that the two tools agree.

Each tool runs with ``HOME`` in ``<workdir>/home`` (see :func:`isolated_env`),
so a case can plant login files there: :func:`home` names the directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from lab.registry import RegistryServer
from tests.support.binaries import in_ci
from tests.support.verify import RegistryReader

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE_PATH = Path("shared") / "bin" / "image-syncer"


def _main_checkout(root: Path) -> Path:
    """The main checkout of a git worktree (``.git`` is a file naming its gitdir), else ``root``."""
    dot_git = root / ".git"
    if dot_git.is_file():
        gitdir = dot_git.read_text().partition("gitdir:")[2].strip()
        parts = Path(gitdir).parts
        if ".git" in parts:
            return Path(*parts[: parts.index(".git")])
    return root


def find_image_syncer() -> Path:
    """``$SYNCER_IMAGE_SYNCER``, else ``../shared/bin/image-syncer`` beside the checkout
    (for a git worktree, beside its main checkout)."""
    if os.environ.get("SYNCER_IMAGE_SYNCER"):
        return Path(os.environ["SYNCER_IMAGE_SYNCER"])
    beside = REPO_ROOT.parent / ORACLE_PATH
    return beside if beside.exists() else _main_checkout(REPO_ROOT).parent / ORACLE_PATH


#: Where the oracle lives: ``shared/bin`` beside the repository.
IMAGE_SYNCER = find_image_syncer()
#: Seconds either tool may take for one case.
DEADLINE = 120.0
#: image-syncer's closing line, which its FAQ tells users to grep for.
FINISHED = re.compile(r"Synchronization finished, (\d+) tasks failed, cost ")

#: Writes a case's files into a directory for one tool, given the source and
#: that tool's destination host; returns the command-line arguments.
Writer = Callable[[Path, str, str], list[str]]
#: How many cases :func:`run_all` runs at once.
CASES_AT_ONCE = 3
T = TypeVar("T")


def require_image_syncer() -> Path:
    """The oracle's path; skip without it (fail in CI, which has it)."""
    if IMAGE_SYNCER.is_file() and os.access(IMAGE_SYNCER, os.X_OK):
        return IMAGE_SYNCER
    message = f"image-syncer not found at {IMAGE_SYNCER} (see shared/bin/README.md)"
    if in_ci():
        pytest.fail(f"{message}, and the compat tests must run in CI", pytrace=False)
    pytest.skip(message)


@dataclass
class Side:
    """What one tool did."""

    tool: str
    argv: list[str]
    code: int
    out: str
    err: str
    elapsed: float
    workdir: Path
    dest: RegistryServer
    #: How the tool was started (the argv before ``argv``).
    prefix: tuple[str, ...] = ()

    @property
    def log(self) -> str:
        """The ``--log`` file if the case wrote one, else stderr."""
        path = self.workdir / "run.log"
        return path.read_text(errors="replace") if path.exists() else self.err

    @property
    def ok(self) -> bool:
        """Exit status class: success or not (image-syncer exits 255 on any failure)."""
        return self.code == 0

    def finished_line(self) -> str | None:
        """The ``Synchronization finished, N tasks failed, cost …`` line, if any."""
        for line in (self.log + "\n" + self.err).splitlines():
            if FINISHED.search(line):
                return line
        return None

    def file(self, name: str) -> str | None:
        """A file the run wrote into its work directory (``--output-success-images``)."""
        path = self.workdir / name
        return path.read_text() if path.exists() else None

    def reader(self, auth: tuple[str, str] | None = None) -> RegistryReader:
        """A reader on this tool's destination (close it, or use ``with``)."""
        return RegistryReader(self.dest.url, auth=auth)

    def tags(self, repo: str, auth: tuple[str, str] | None = None) -> list[str]:
        """Sorted tags of ``repo`` at this tool's destination ([] if none)."""
        with self.reader(auth) as reader:
            return sorted(reader.tags(repo))

    def digest(self, repo: str, ref: str, auth: tuple[str, str] | None = None) -> str:
        """The destination's manifest digest for ``repo:ref`` ("" if absent)."""
        with self.reader(auth) as reader:
            status, digest = reader.head_manifest(repo, ref)
        return digest if status == 200 else ""

    def __str__(self) -> str:
        log = (self.workdir / "run.log").read_text(errors="replace") if self.wrote_log else ""
        return (
            f"{self.tool} {' '.join(self.argv)} -> {self.code} in {self.elapsed:.1f}s\n"
            f"--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"
            + (f"\n--- run.log\n{log[-3000:]}" if log else "")
        )

    # pytest shows an assertion message's repr: make it the readable account.
    __repr__ = __str__

    @property
    def wrote_log(self) -> bool:
        """Whether the run wrote ``run.log`` (``--log``)."""
        return (self.workdir / "run.log").exists()


def home(workdir: Path) -> Path:
    """The ``HOME`` a tool runs with in ``workdir``: ``docker/`` is its ``DOCKER_CONFIG``,
    ``run/`` its ``XDG_RUNTIME_DIR``, ``config/`` its ``XDG_CONFIG_HOME``."""
    return workdir / "home"


def isolated_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """No user docker or podman credentials, no default registry; both tools see the same."""
    drop = ("DEFAULT_REGISTRY", "DEFAULT_NAMESPACE", "REGISTRY_AUTH_FILE", "SYNCER_AUTH_FILE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    for sub in ("docker", "run", "config", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        DOCKER_CONFIG=str(home / "docker"),
        XDG_RUNTIME_DIR=str(home / "run"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def run_tool(
    tool: str,
    prefix: Sequence[str],
    args: Sequence[str],
    workdir: Path,
    dest: RegistryServer,
    env: Mapping[str, str],
) -> Side:
    """Run one tool in ``workdir`` with a deadline."""
    argv = [*prefix, *args]
    start = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=workdir,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{tool} did not finish in {DEADLINE}s: {argv}") from exc
    return Side(
        tool,
        list(args),
        done.returncode,
        done.stdout,
        done.stderr,
        time.monotonic() - start,
        workdir,
        dest,
        tuple(prefix),
    )


#: How each tool is started; the syncer prefix can be swapped per case (bare
#: ``syncer``, the ``image-syncer`` console script).
SYNCER_SYNC = (sys.executable, "-m", "syncer", "sync")
#: ``syncer`` with no subcommand, as an image-syncer command line would call it.
SYNCER_BARE = (sys.executable, "-m", "syncer")
#: syncer's ``image-syncer`` console script, installed beside this Python.
IMAGE_SYNCER_SCRIPT = (str(Path(sys.executable).with_name("image-syncer")),)


def run_both(
    tmp: Path,
    source_host: str,
    make_dest: Callable[[], RegistryServer],
    write: Writer,
    *,
    syncer_prefix: Sequence[str] = SYNCER_SYNC,
    env: Mapping[str, str] | None = None,
) -> tuple[Side, Side]:
    """Run image-syncer and syncer on the same case, each into a fresh destination.

    The two run at the same time: image-syncer polls its queue once a second,
    so a case costs its few seconds, and syncer's run hides inside them.
    """
    oracle = require_image_syncer()
    jobs = []
    for tool, prefix in (("image-syncer", (str(oracle),)), ("syncer", tuple(syncer_prefix))):
        workdir = tmp / tool
        workdir.mkdir(parents=True, exist_ok=True)
        dest = make_dest()
        args = write(workdir, source_host, dest.host)
        jobs.append((tool, prefix, args, workdir, dest, isolated_env(home(workdir), env)))
    with ThreadPoolExecutor(2, thread_name_prefix="compat") as pool:
        futures = [pool.submit(run_tool, *job) for job in jobs]
        sides = [future.result() for future in futures]
    return sides[0], sides[1]


def run_both_as_script(
    tmp: Path, source_host: str, make_dest: Callable[[], RegistryServer], write: Writer
) -> tuple[Side, Side]:
    """:func:`run_both`, with syncer started as its ``image-syncer`` console script."""
    return run_both(tmp, source_host, make_dest, write, syncer_prefix=IMAGE_SYNCER_SCRIPT)


def run_again(
    side: Side, args: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> Side:
    """Run the same tool again in the same work directory, into the same destination."""
    return run_tool(
        side.tool,
        side.prefix,
        side.argv if args is None else args,
        side.workdir,
        side.dest,
        isolated_env(home(side.workdir), env),
    )


def run_all(jobs: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Run independent cases at once, :data:`CASES_AT_ONCE` at a time.

    image-syncer spends most of a case polling its queue once a second, so
    cases side by side cost little more than one.
    """
    with ThreadPoolExecutor(CASES_AT_ONCE, thread_name_prefix="cases") as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
