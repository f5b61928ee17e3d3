"""(p) What one re-check pass of a million tags would take: measured at 100,000, projected.

A no-op ``syncer plan --wait`` of one repository of 100,000 tags (10,000 with
``--quick``) into a destination that has them all, against
:mod:`bench.lightreg`, a registry that answers in microseconds (the
filesystem ``docker-registry`` spends about 2 core-ms per HEAD here, which
would be what is measured). It records the copier's CPU per tag (workers and
planner), Redis's own CPU per tag (``redis-server``'s ticks in /proc), Redis
commands per tag (``INFO commandstats``, background included) and Redis
memory (its peak while the plan ran, and the plan's keys once it is over),
then projects a pass of :data:`PROJECT_TAGS` tags on :data:`PROJECT_WORKERS`
workers and one Redis: the workers' share is their CPU over their cores, and
Redis, which runs commands on one core, bounds the pass at its CPU per tag
times the tags.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import cast

import redis

from bench.configs import write_auth, write_images
from bench.context import Bench
from bench.cpuload import CpuMeter
from bench.cputree import tree_cpu
from bench.procs import Timed, run_timed
from bench.rediscost import plan_memory
from bench.report import Scenario
from bench.tools import measure, plan_argv, worker_fleet

log = logging.getLogger(__name__)

#: The pass projected, and its target.
PROJECT_TAGS, PROJECT_WORKERS, LIMIT_S = 1_000_000, 20, 600.0
#: Tags measured, by profile.
MEASURED = {"full": 100_000, "quick": 10_000}
#: The light registry's port on the bench address.
LIGHT_PORT = 5713
#: Cores a projected worker host gives its worker (``syncer worker -p`` threads share them).
WORKER_CORES = 1


@dataclass(frozen=True, slots=True)
class Measured:
    """One measured pass."""

    tags: int
    wall: float
    copier_s: float
    redis_s: float
    commands: int
    peak_bytes: int
    plan_bytes: int


class _Peak:
    """Samples Redis's ``used_memory`` every half second, keeping the highest."""

    def __init__(self, client: redis.Redis) -> None:
        self.client, self.peak = client, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                used = int(cast(dict[str, int], self.client.info("memory"))["used_memory"])
            except redis.RedisError:
                continue
            self.peak = max(self.peak, used)


def _light_registry(bench: Bench, tags: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "bench.lightreg", "--address", bench.source.address]
    argv += ["--port", str(LIGHT_PORT), "--tags", str(tags)]
    out = open(bench.workdir / "lightreg.log", "wb")  # the child keeps it open
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((bench.source.address, LIGHT_PORT), timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the light registry did not start; see lightreg.log")


def _commands(client: redis.Redis) -> int:
    info = cast(dict[str, dict[str, int]], client.info("commandstats"))
    return sum(int(v["calls"]) for v in info.values())


def measure_pass(bench: Bench, tags: int) -> tuple[Measured, Scenario]:
    """The measured no-op pass of ``tags`` tags, and its table row."""
    host = f"{bench.source.address}:{LIGHT_PORT}"
    auth = write_auth(bench.workdir / "light-auth.yaml", [host])
    images = write_images(
        bench.workdir / "light-images.yaml", {f"{host}/proj/src": f"{host}/proj/dst"}
    )
    scen = Scenario("p", "", "", tags=tags)
    light = _light_registry(bench, tags)
    client = redis.Redis.from_url(bench.redis.url)
    redis_pid = bench.redis.pid
    try:
        bench.redis.flush()
        hosts: list[str | None] = [None] * bench.profile.loopback_workers
        with worker_fleet(bench, auth, hosts, bench.options.worker_proc, None) as fleet:
            argv = [*plan_argv(bench, auth, images), "--wait", "--output", "json"]
            redis_before = tree_cpu([redis_pid]) if redis_pid else 0.0
            workers_before = tree_cpu(fleet.roots)
            commands_before = _commands(client)
            with _Peak(client) as peak, CpuMeter() as cpu:
                timed = run_timed(argv, log_path=bench.workdir / "syncer-plan-projection.log")
            commands = _commands(client) - commands_before
            worker_cpu = tree_cpu(fleet.roots) - workers_before
            redis_cpu = (tree_cpu([redis_pid]) if redis_pid else 0.0) - redis_before
            newest = cast(list[bytes], client.zrevrange("syncer:plans", 0, 0))
            plan_bytes, _ = plan_memory(client, newest[0].decode() if newest else "")
        note = f"CPU workers {worker_cpu:.1f} + planner {timed.cpu_s:.1f} core-s"
        sample = measure(
            bench,
            f"syncer plan --wait ({len(hosts)}w), light registry",
            "max worker",
            bench.source.log_size(),
            Timed(timed.wall, timed.peak_rss_kib, timed.returncode, timed.cpu_s + worker_cpu),
            note,
            cpu,
        )
        scen.add(sample)
    finally:
        client.close()
        light.terminate()
        light.wait(timeout=10)
    measured = Measured(
        tags, timed.wall, timed.cpu_s + worker_cpu, redis_cpu, commands, peak.peak, plan_bytes
    )
    return measured, scen


def projection(bench: Bench) -> list[Scenario]:
    """(p): measure a no-op pass at 100,000 tags and project one of 1,000,000 on 20 workers."""
    tags = MEASURED.get(bench.profile.name, MEASURED["quick"])
    m, scen = measure_pass(bench, tags)
    scen.title = (
        f"projection: a no-op re-check of {tags} tags against a registry that is not the "
        f"bottleneck, projected to {PROJECT_TAGS:,} tags on {PROJECT_WORKERS} workers"
    )
    scen.target = (
        f"one re-check pass of {PROJECT_TAGS:,} tags in <= {LIMIT_S / 60:g} min on "
        f"{PROJECT_WORKERS} workers and one Redis"
    )
    scen.facts.append(
        f"measured: {m.tags} tags in {m.wall:.1f} s on this 2-core machine, against "
        "bench/lightreg.py (one image under every tag, HTTP/1.1 keep-alive)"
    )
    scen.extra += table(m)
    worker_s, redis_s = _projected(m)
    bound = max(worker_s, redis_s)
    ok = "met" if bound <= LIMIT_S else "MISSED"
    scen.verdict = (
        f"{ok}: {bound / 60:.1f} min projected (workers {worker_s / 60:.1f} min, Redis "
        f"{redis_s / 60:.1f} min; target <= {LIMIT_S / 60:g} min)"
    )
    return [scen]


def _projected(m: Measured) -> tuple[float, float]:
    """Seconds the projected pass needs of its workers (in parallel), and of Redis's one core."""
    per_tag_copier, per_tag_redis = m.copier_s / m.tags, m.redis_s / m.tags
    return (
        PROJECT_TAGS * per_tag_copier / (PROJECT_WORKERS * WORKER_CORES),
        PROJECT_TAGS * per_tag_redis,
    )


def table(m: Measured) -> list[str]:
    """The projection table (markdown)."""
    scale = PROJECT_TAGS / m.tags
    worker_s, redis_s = _projected(m)
    rows = [
        f"| per tag (measured at {m.tags}) | value | for {PROJECT_TAGS:,} tags |",
        "| --- | --- | --- |",
        f"| copier CPU (workers + planner) | {m.copier_s / m.tags * 1000:.2f} core-ms | "
        f"{m.copier_s * scale / 3600:.1f} core-h: {worker_s / 60:.1f} min on "
        f"{PROJECT_WORKERS} workers of {WORKER_CORES} core |",
        f"| Redis CPU (redis-server) | {m.redis_s / m.tags * 1e6:.0f} core-µs | "
        f"{redis_s / 60:.1f} min of its one core |",
        f"| Redis commands (background included) | {m.commands / m.tags:.2f} | "
        f"{m.commands * scale / 1e6:.1f} M, {m.commands * scale / LIMIT_S / 1000:.0f} k/s over "
        f"{LIMIT_S / 60:g} min |",
        f"| Redis memory, peak during the pass | {m.peak_bytes / m.tags:.0f} bytes | "
        f"{m.peak_bytes * scale / 2**30:.2f} GiB |",
        f"| Redis memory, the plan's keys once over | {m.plan_bytes / m.tags:.0f} bytes | "
        f"{m.plan_bytes * scale / 2**20:.0f} MiB per plan kept |",
    ]
    return rows
