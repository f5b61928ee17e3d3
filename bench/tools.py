"""The three copiers being compared, each run once into the destination as it stands.

* :func:`skopeo_sync`: ``skopeo sync --all`` once per repository, in sequence
  (one shell loop, so ``/usr/bin/time`` reports the largest skopeo's RSS);
  several hosts run their loops in parallel.
* :func:`syncer_sync`: embedded ``syncer sync --cache none``.
* :func:`syncer_plan`: ``syncer plan --wait`` with freshly started workers,
  one per host; peak RSS is the largest worker's (the sum is in the note).
* image-syncer, when its binary is there: :mod:`bench.imagesyncer`.

Each returns a :class:`Sample` with the source registry's view of the run.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import profiling
from bench.accesslog import traffic
from bench.context import DEST_PREFIX, Bench
from bench.cpuload import CpuMeter
from bench.cputree import pin, tree_cpu
from bench.procs import CommandFailed, Timed, WorkerFleet, run_parallel, run_timed


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed run of one copier."""

    tool: str
    wall: float
    peak_rss_kib: int
    #: Whose RSS ``peak_rss_kib`` is ("process", "max worker", ...).
    rss_of: str
    #: Blob bytes the source registry served during the run.
    bytes_moved: int
    #: Manifest GETs the source registry served during the run.
    manifest_gets: int
    ok: bool
    note: str = ""
    #: Where the machine's CPU went during the run (:mod:`bench.cpuload`).
    cpu: str = ""
    #: Core-seconds of the copier's own processes (:mod:`bench.cputree`): for plans,
    #: the workers and the planner; never the registries' or Redis's.
    copier_cpu_s: float = 0.0


def measure(
    bench: Bench,
    tool: str,
    rss_of: str,
    start: int,
    timed: Timed,
    note: str = "",
    cpu: CpuMeter | None = None,
) -> Sample:
    seen = traffic(bench.source.log_path, start)
    return Sample(
        tool,
        timed.wall,
        timed.peak_rss_kib,
        rss_of,
        seen.blob_bytes,
        seen.manifest_gets,
        timed.returncode == 0,
        note,
        cpu.use.summary() if cpu and cpu.use else "",
        timed.cpu_s,
    )


def skopeo_loop(bench: Bench, repos: list[str]) -> list[str]:
    """A ``sh -c`` running ``skopeo sync --all`` for each repository in turn."""
    steps = [
        shlex.join(
            [
                "skopeo",
                "sync",
                "--all",
                "--preserve-digests",
                "--keep-going",
                "--src",
                "docker",
                "--dest",
                "docker",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                f"{bench.source.host}/{repo}",
                f"{bench.dest.host}/{DEST_PREFIX}",
            ]
        )
        + " >/dev/null || rc=1"
        for repo in repos
    ]
    # Every repository is attempted; the exit code says whether any failed.
    return ["sh", "-c", "; ".join(["rc=0", *steps, "exit $rc"])]


def skopeo_env(bench: Bench, fresh: bool) -> dict[str, str]:
    """Point skopeo's blob-info cache at the bench directory; ``fresh`` empties it first.

    As root, containers/image keeps the cache in /var/lib/containers/cache;
    declaring a non-root UID makes it use ``$XDG_DATA_HOME/containers/cache``
    instead, so a cold run really is cold and the machine's cache is untouched.
    """
    data = bench.workdir / "skopeo-data"
    cache = data / "containers" / "cache"
    if fresh and cache.exists():
        for f in cache.iterdir():
            f.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    return {
        "_CONTAINERS_ROOTLESS_UID": "1000",
        "XDG_DATA_HOME": str(data),
        "XDG_RUNTIME_DIR": str(bench.workdir / "skopeo-run"),
    }


def skopeo_sync(bench: Bench, split: list[tuple[list[str], str | None]], *, cold: bool) -> Sample:
    """Each ``(repos, netns)`` host runs its skopeo loop; all hosts at once."""
    env = skopeo_env(bench, fresh=cold)
    os.makedirs(env["XDG_RUNTIME_DIR"], exist_ok=True)
    start = bench.source.log_size()
    with CpuMeter() as cpu:
        timed = run_parallel(
            [(skopeo_loop(bench, repos), ns) for repos, ns in split],
            log_path=bench.workdir / "skopeo.log",
            env=env,
        )
    hosts = len(split)
    tool = "skopeo sync" if hosts == 1 else f"{hosts} x skopeo sync"
    rss_of = "process" if hosts == 1 else "max process"
    return measure(bench, tool, rss_of, start, timed, cpu=cpu)


def syncer_sync(
    bench: Bench,
    repos: list[str],
    *,
    netns: str | None = None,
    wrap: list[str] | None = None,
    images: Path | None = None,
    cache: Path | None = None,
    extra: Sequence[str] = (),
) -> Sample:
    """Embedded ``syncer sync --cache none``; ``wrap`` prefixes the command (a profiler).

    ``images`` replaces the every-tag file of ``repos``, ``cache`` names a blob
    cache file instead of none, and ``extra`` flags join the command and its name.
    """
    argv = [
        *(wrap or []),
        sys.executable,
        "-m",
        "syncer",
        "sync",
        "--auth",
        str(bench.auth_file()),
        "--images",
        str(images or bench.images_file(repos)),
        "--cache",
        str(cache or "none"),
        "-p",
        str(bench.options.proc),
        *extra,
    ]
    start = bench.source.log_size()
    with CpuMeter() as cpu:
        timed = run_timed(argv, netns=netns, log_path=bench.workdir / "syncer-sync.log")
    return measure(bench, " ".join(["syncer sync", *extra]), "process", start, timed, cpu=cpu)


@contextmanager
def worker_fleet(
    bench: Bench,
    auth: Path,
    hosts: Sequence[str | None],
    proc: int,
    profile: Path | None,
    cpus: frozenset[int] | None = None,
) -> Iterator[WorkerFleet]:
    """Started workers (sampled by py-spy into ``profile.N`` if given, pinned to ``cpus``
    if given), stopped on exit."""
    fleet = WorkerFleet(
        hosts,
        proc=proc,
        env={"SYNCER_REDIS_URL": bench.redis.url, "SYNCER_AUTH_FILE": str(auth)},
        logdir=bench.workdir,
    )
    fleet.start()
    if cpus is not None:
        pin(fleet.roots, cpus)
    spies = (
        [profiling.attach(pid, profile.with_suffix(f".{i}")) for i, pid in enumerate(fleet.pids)]
        if profile
        else []
    )
    try:
        yield fleet
    finally:
        for spy in spies:
            profiling.detach(spy)
        fleet.stop()


def plan_argv(bench: Bench, auth: Path, images: Path) -> list[str]:
    """``syncer plan`` for ``images`` against the bench Redis."""
    return [
        sys.executable,
        "-m",
        "syncer",
        "plan",
        "--auth",
        str(auth),
        "--images",
        str(images),
        "--redis",
        bench.redis.url,
    ]


def syncer_plan(
    bench: Bench,
    repos: list[str],
    hosts: list[str | None],
    *,
    proc: int | None = None,
    profile: Path | None = None,
    cpus: frozenset[int] | None = None,
    images: Path | None = None,
    extra: Sequence[str] = (),
    flush: bool = True,
) -> Sample:
    """``syncer plan --wait`` with one fresh worker per entry of ``hosts``.

    With ``profile``, py-spy samples every worker into ``profile.N``; with
    ``cpus``, the workers and the planner run only on those CPUs. ``images``
    replaces the every-tag file of ``repos``; ``extra`` flags join the command.
    Redis is flushed first unless ``flush`` is false (it then keeps the blob cache).
    """
    if flush:
        bench.redis.flush()
    auth = bench.auth_file()
    workers = proc or bench.options.worker_proc
    with worker_fleet(bench, auth, hosts, workers, profile, cpus) as fleet:
        images = images or bench.images_file(repos)
        argv = [*plan_argv(bench, auth, images), "--wait", "--output", "json", *extra]
        if cpus is not None:
            argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
        start = bench.source.log_size()
        before = tree_cpu(fleet.roots)
        with CpuMeter() as cpu:
            timed = run_timed(argv, log_path=bench.workdir / "syncer-plan.log")
        worker_cpu = tree_cpu(fleet.roots) - before
        rss = fleet.peak_rss_kib()
    if not rss or min(rss) == 0:
        raise CommandFailed("a worker died during the plan; see worker*.log")
    note = (
        f"{len(hosts)} worker(s) -p {workers}, sum {sum(rss) >> 10} MiB; "
        f"CPU workers {worker_cpu:.1f} + planner {timed.cpu_s:.1f} core-s"
    )
    sample = measure(
        bench,
        " ".join([f"syncer plan --wait ({len(hosts)}w)", *extra]),
        "max worker",
        start,
        Timed(timed.wall, max(rss), timed.returncode, timed.cpu_s + worker_cpu),
        note,
        cpu,
    )
    return sample
