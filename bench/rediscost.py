"""(r) What a plan costs Redis per tag: commands and memory, cold and no-op (issue #23).

The small-tags repository of (g) is planned twice with the loopback workers:
cold into an empty destination, then a no-op re-check on the Redis the cold
plan left (its blob cache in place, as a schedule's next pass finds it). For
each plan, ``INFO commandstats`` before and after counts every command Redis
ran, the ones a Lua script ran included (Redis counts those too), split into
the plan's own and the background: Celery's polling, the workers'
heartbeats and re-stamps, measured first over an idle window with the same
workers and scaled by the plan's wall time. ``INFO stats``'s
``total_commands_processed`` counts what clients sent (a script is one).
Memory is ``MEMORY USAGE`` of every key of the plan once it is over, and
``used_memory`` before and after.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis

from bench.context import Bench
from bench.cpuload import CpuMeter
from bench.cputree import tree_cpu
from bench.procs import Timed, run_timed
from bench.report import Scenario
from bench.tools import Sample, measure, plan_argv, worker_fleet

log = logging.getLogger(__name__)

#: Targets: Redis commands per tag (cold, no-op), and a plan's bytes per tag once over.
COLD_LIMIT, NOOP_LIMIT, BYTES_LIMIT = 30.0, 5.0, 300.0
#: Seconds of idle workers that measure the background rate.
IDLE_WINDOW = 10.0
#: How many of the biggest commands each plan's line names.
TOP = 8


@dataclass(frozen=True, slots=True)
class Cost:
    """What one plan cost Redis."""

    label: str
    tags: int
    wall: float
    #: Commands Redis ran during the plan, by name (scripts' own calls included).
    commands: Counter[str]
    #: Background commands expected over the plan's wall time.
    background: float
    #: ``MEMORY USAGE`` summed over the plan's keys once it is over, and their count.
    plan_bytes: int
    plan_keys: int
    #: ``used_memory`` after the plan minus before it.
    used_delta: int

    @property
    def scripts(self) -> int:
        """Lua scripts run (each one command, besides the commands it runs)."""
        return self.commands["EVALSHA"] + self.commands["EVAL"]

    @property
    def total(self) -> int:
        """Every command Redis ran during the plan."""
        return sum(self.commands.values())

    def per_tag(self, *, background: bool = True) -> float:
        """Commands per tag, with or without the background."""
        return (self.total - (0 if background else self.background)) / self.tags

    def line(self) -> str:
        """One fact line: the figures and the biggest commands."""
        top = ", ".join(f"{name} {n / self.tags:.1f}" for name, n in self.commands.most_common(TOP))
        return (
            f"{self.label}: {self.per_tag():.1f} commands per tag with the background, "
            f"{self.per_tag(background=False):.1f} without ({self.background:.0f} background "
            f"commands expected over {self.wall:.1f} s), of which {self.scripts / self.tags:.1f} "
            f"scripts (EVALSHA); biggest per tag: {top}; the plan's {self.plan_keys} keys hold "
            f"{self.plan_bytes / self.tags:.0f} bytes per tag once it is over "
            f"(used_memory {self.used_delta / self.tags:+.0f} bytes per tag)"
        )


def _stats(client: redis.Redis) -> Counter[str]:
    """Commands run so far, by name."""
    info = cast(dict[str, dict[str, int]], client.info("commandstats"))
    return Counter(
        {name.removeprefix("cmdstat_").upper(): int(v["calls"]) for name, v in info.items()}
    )


def _delta(client: redis.Redis, before: Counter[str]) -> Counter[str]:
    """What ran since ``before``, less the INFO call that read it."""
    diff = _stats(client)
    diff.subtract(before)
    diff["INFO"] -= 1  # this reading's own call
    return Counter({k: v for k, v in diff.items() if v > 0})


def plan_memory(client: redis.Redis, plan: str) -> tuple[int, int]:
    """``MEMORY USAGE`` summed over the plan's keys, and how many there are."""
    names = list(client.scan_iter(match=f"syncer:plan:{plan}:*", count=1000))
    total = sum(int(cast(int, client.memory_usage(n, samples=0)) or 0) for n in names)
    return total, len(names)


def families(client: redis.Redis) -> str:
    """Every key's ``MEMORY USAGE``, summed by family (``syncer:blobs``, ``syncer:plan``, ...)."""
    sizes: Counter[str] = Counter()
    for name in client.scan_iter(count=1000):
        key = name.decode(errors="replace")
        parts = key.split(":")
        family = ":".join(parts[:2]) if key.startswith("syncer:") else parts[0]
        sizes[family] += int(cast(int, client.memory_usage(name, samples=0)) or 0)
    return ", ".join(f"{k} {v >> 10} KiB" for k, v in sizes.most_common())


def _newest_plan(client: redis.Redis) -> str:
    newest = cast(list[bytes], client.zrevrange("syncer:plans", 0, 0))
    return newest[0].decode() if newest else ""


def redis_cost(bench: Bench) -> list[Scenario]:
    """(r): a cold and a no-op plan of the small-tags repository, counted in Redis."""
    count = bench.profile.small_tags[0]
    repo = bench.dataset.small(count)
    workers = bench.profile.loopback_workers
    scen = Scenario(
        "r",
        f"Redis cost of a plan: {count} small tags, {workers} workers, cold then no-op",
        f"Redis commands per tag: cold <= {COLD_LIMIT:g}, no-op <= {NOOP_LIMIT:g}; "
        f"a plan's keys <= {BYTES_LIMIT:g} bytes per tag once it is over",
        tags=count,
    )
    bench.dest.wipe()
    bench.redis.flush()
    client = redis.Redis.from_url(bench.redis.url)
    auth, images = bench.auth_file(), bench.images_file([repo])
    hosts: list[str | None] = [None] * workers
    costs: list[Cost] = []
    try:
        with worker_fleet(bench, auth, hosts, bench.options.worker_proc, None) as fleet:
            before = _stats(client)
            time.sleep(IDLE_WINDOW)
            idle = _delta(client, before)
            rate = sum(idle.values()) / IDLE_WINDOW
            scen.facts.append(
                f"background with {workers} idle workers: {rate:.1f} commands/s ("
                + ", ".join(f"{k} {v / IDLE_WINDOW:.1f}" for k, v in idle.most_common(5))
                + ")"
            )
            for label in ("cold", "no-op"):
                cost, sample = _one_plan(bench, client, fleet.roots, auth, images, label, rate)
                costs.append(cost)
                scen.add(sample)
                scen.facts.append(cost.line())
                scen.facts.append(f"Redis's keys after the {label} plan: {families(client)}")
    finally:
        client.close()
    scen.verdict = _verdict(costs)
    scen.facts.append(
        "commands: INFO commandstats, which counts the commands a Lua script runs too "
        "(INFO stats total_commands_processed does as well); memory: MEMORY USAGE of "
        "syncer:plan:ID:* after plan --wait returned"
    )
    return [scen]


def _one_plan(
    bench: Bench,
    client: redis.Redis,
    roots: list[int],
    auth: Path,
    images: Path,
    label: str,
    rate: float,
) -> tuple[Cost, Sample]:
    count = bench.profile.small_tags[0]
    argv = [*plan_argv(bench, auth, images), "--wait", "--output", "json"]
    used = int(cast(dict[str, int], client.info("memory"))["used_memory"])
    start = bench.source.log_size()
    cpu_before = tree_cpu(roots)
    before = _stats(client)
    with CpuMeter() as cpu:
        timed = run_timed(argv, log_path=bench.workdir / f"syncer-plan-{label}.log")
    commands = _delta(client, before)
    worker_cpu = tree_cpu(roots) - cpu_before
    plan = _newest_plan(client)
    plan_bytes, plan_keys = plan_memory(client, plan)
    used_after = int(cast(dict[str, int], client.info("memory"))["used_memory"])
    cost = Cost(
        label,
        count,
        timed.wall,
        commands,
        rate * timed.wall,
        plan_bytes,
        plan_keys,
        used_after - used,
    )
    log.info("%s", cost.line())
    note = f"CPU workers {worker_cpu:.1f} + planner {timed.cpu_s:.1f} core-s"
    sample = measure(
        bench,
        f"syncer plan --wait, {label}",
        "planner",
        start,
        Timed(timed.wall, timed.peak_rss_kib, timed.returncode, timed.cpu_s + worker_cpu),
        note,
        cpu,
    )
    return cost, sample


def _verdict(costs: list[Cost]) -> str:
    parts = []
    for cost, limit in zip(costs, (COLD_LIMIT, NOOP_LIMIT), strict=False):
        value = cost.per_tag(background=False)
        ok = "met" if value <= limit else "MISSED"
        parts.append(
            f"{cost.label}: {ok}: {value:.1f} commands per tag without the background, "
            f"{cost.per_tag():.1f} with it (target <= {limit:g})"
        )
    for cost in costs:
        per = cost.plan_bytes / cost.tags
        ok = "met" if per <= BYTES_LIMIT else "MISSED"
        parts.append(
            f"{cost.label} memory: {ok}: {per:.0f} bytes per tag (target <= {BYTES_LIMIT:g})"
        )
    return "; ".join(parts)
