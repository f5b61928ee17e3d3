"""image-syncer v1.5.5 as a third copier, when ``../shared/bin/image-syncer`` exists.

It reads the same two files as ``syncer sync`` (:mod:`bench.configs`), runs
with ``HOME`` and every XDG directory inside a directory of the bench's own,
and keeps no blob-info cache between runs (it
is built with containers/image's ``none`` cache), so every run is as cold as
the destination it finds. Without the binary the scenarios note its absence.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bench.configs import write_auth, write_images
from bench.context import Bench
from bench.cpuload import CpuMeter
from bench.procs import run_timed
from bench.tools import Sample, measure

#: The table's name for it.
TOOL = "image-syncer"
#: Where the binary sits relative to the directory holding the checkout.
BESIDE = Path("shared") / "bin" / "image-syncer"
#: Variables that would hand it credentials or a default registry from this machine.
_DROP = ("DEFAULT_REGISTRY", "DEFAULT_NAMESPACE", "REGISTRY_AUTH_FILE", "SYNCER_AUTH_FILE")


def main_checkout(root: Path) -> Path:
    """The main checkout of a git worktree (whose ``.git`` file names its gitdir), else ``root``."""
    marker = root / ".git"
    if not marker.is_file():
        return root
    gitdir = Path(marker.read_text().partition("gitdir:")[2].strip())
    parts = gitdir.parts
    return Path(*parts[: parts.index(".git")]) if ".git" in parts else root


def find(root: Path, env: Mapping[str, str] = os.environ) -> Path | None:
    """``$SYNCER_IMAGE_SYNCER``, else ``shared/bin/image-syncer`` beside ``root`` or beside
    its main checkout; None when none of them is an executable file."""
    named = env.get("SYNCER_IMAGE_SYNCER")
    candidates = [Path(named)] if named else [root.parent / BESIDE]
    if not named:
        candidates.append(main_checkout(root).parent / BESIDE)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def isolated_env(home: Path) -> dict[str, str]:
    """Environment overrides keeping it inside ``home``; the dropped variables set empty."""
    subdirs = {"DOCKER_CONFIG": "docker", "XDG_RUNTIME_DIR": "run"}
    subdirs |= {"XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache", "XDG_DATA_HOME": "data"}
    env = {"HOME": str(home)} | {key: str(home / sub) for key, sub in subdirs.items()}
    for sub in subdirs.values():
        (home / sub).mkdir(parents=True, exist_ok=True)
    return env | {key: "" for key in _DROP}


def command(binary: Path, auth: Path, images: Path, proc: int) -> list[str]:
    """The image-syncer command line for one run."""
    return [str(binary), "--auth", str(auth), "--images", str(images), "--proc", str(proc)]


def image_syncer(
    bench: Bench, binary: Path, repos: list[str], *, netns: str | None = None
) -> Sample:
    """One image-syncer run of ``repos`` into the destination as it stands."""
    home = bench.workdir / "image-syncer"
    home.mkdir(exist_ok=True)
    auth = write_auth(home / "auth.yaml", [bench.source.host, bench.dest.host])
    rules = {f"{bench.source.host}/{r}": f"{bench.dest.host}/{bench.dest_repo(r)}" for r in repos}
    argv = command(binary, auth, write_images(home / "images.yaml", rules), bench.options.proc)
    start = bench.source.log_size()
    with CpuMeter() as cpu:
        timed = run_timed(
            argv, netns=netns, log_path=bench.workdir / "image-syncer.log", env=isolated_env(home)
        )
    return measure(bench, TOOL, "process", start, timed, cpu=cpu)
