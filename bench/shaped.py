"""Scenarios (b) one shaped host and (c) a fleet of shaped hosts (see :mod:`bench.netns`)."""

from __future__ import annotations

import dataclasses

from bench import profiling
from bench.context import Bench
from bench.cputree import all_cpus, pin
from bench.dataset import LARGE_REPO
from bench.netns import host_name, link_check, shaped_bytes
from bench.procs import celery_summary
from bench.report import Scenario
from bench.scenarios import (
    Runner,
    absent_note,
    cold_and_noop,
    local_runners,
    profile_path,
    verdict,
)
from bench.settings import SERVER_CPUS
from bench.tools import Sample, skopeo_sync, syncer_plan

#: Targets: (b) syncer/skopeo; (c) syncer/4-skopeo, and syncer/floor.
ONE_HOST_LIMIT, FLEET_LIMIT, FLOOR_LIMIT = 0.85, 0.66, 1.25
#: Suffix of the pinned variant's row in (c).
PINNED = ", pinned"


def one_host(bench: Bench) -> Scenario:
    """(b): skopeo, ``syncer sync`` and a one-worker plan, all inside shaped host 1."""
    mbit = bench.options.link_mbit
    scen = Scenario(
        "b",
        f"cold sync, one shaped host at {mbit} Mbit/s",
        f"syncer sync <= {ONE_HOST_LIMIT}x skopeo",
        baseline="skopeo sync",
    )
    repos, ns = list(bench.main.repos), host_name(1)
    cold_and_noop(bench, local_runners(bench, repos, ns), repos, scen, None)
    scen.facts += filter(None, [absent_note(bench)])
    line = bench.main.total_bytes * 8 / (mbit * 1e6)
    scen.facts.append(
        f"line-rate time for all {bench.main.total_bytes / (1 << 20):.1f} MiB "
        f"at {mbit} Mbit/s: {line:.2f} s (each direction)"
    )
    scen.facts.append(celery_summary(bench.workdir))
    scen.facts.append(_shaping_facts(bench, [1]))
    scen.verdict = verdict(scen.ratio("syncer sync") or 0.0, ONE_HOST_LIMIT)
    return scen


def _shaping_facts(bench: Bench, hosts: list[int]) -> str:
    """Evidence the shaping works: a curl download rate, and bytes through each bucket."""
    rate = link_check(hosts[0], bench.largest_blob_url(LARGE_REPO))
    counts = ", ".join(
        f"h{i} {down / (1 << 20):.0f}/{up / (1 << 20):.0f}"
        for i in hosts
        for down, up in [shaped_bytes(i)]
    )
    return (
        f"link check: curl downloaded the largest blob into host {hosts[0]} at {rate:.0f} "
        f"Mbit/s; MiB through the token buckets so far (down/up): {counts}"
    )


def split_by_hand(repos: list[str], hosts: int, largest: str) -> list[list[str]]:
    """The repository holding the largest blob alone on host 1, the rest round-robin on the others.

    This is the split that gives skopeo its best wall time: host 1 is bound by
    the large layer anyway, so everything else goes elsewhere.
    """
    rest = [r for r in repos if r != largest]
    if hosts == 1:
        return [repos]
    split: list[list[str]] = [[largest]] + [[] for _ in range(hosts - 1)]
    for i, repo in enumerate(rest):
        split[1 + i % (hosts - 1)].append(repo)
    return split


def fleet(bench: Bench, hosts: int, largest_repo: str) -> Scenario:
    """(c): ``syncer plan --wait`` with one worker per shaped host vs one skopeo per host."""
    mbit = bench.options.link_mbit
    floor = bench.main.largest_blob * 8 / (mbit * 1e6)
    scen = Scenario(
        "c",
        f"cold sync, {hosts} shaped hosts at {mbit} Mbit/s each",
        f"syncer plan <= {FLEET_LIMIT}x the {hosts}-skopeo wall and <= {FLOOR_LIMIT}x the floor "
        f"(unpinned and pinned); its copier core-s per GiB <= the {hosts} skopeos'",
        baseline=f"{hosts} x skopeo sync",
    )
    repos = list(bench.main.repos)
    names: list[str | None] = [host_name(i) for i in range(1, hosts + 1)]
    split = split_by_hand(repos, hosts, largest_repo)
    runners: list[Runner] = [
        lambda cold: skopeo_sync(bench, list(zip(split, names, strict=True)), cold=cold)
    ]
    copier_cpus = all_cpus() - SERVER_CPUS
    if copier_cpus:
        runners.append(lambda cold: pinned_plan(bench, repos, names, copier_cpus))
    else:
        scen.facts.append("pinned variant skipped: one CPU only")
    # The unpinned plan runs last, so the worker-log summary below describes it.
    runners.append(lambda cold: syncer_plan(bench, repos, names))
    cold_and_noop(bench, runners, repos, scen, None)
    scen.facts.append("unpinned plan, " + celery_summary(bench.workdir))
    scen.facts.append(_shaping_facts(bench, list(range(1, hosts + 1))))
    # The same plan for the largest repository alone: how near the floor the
    # fleet gets when the other copies do not compete for the 2 cores.
    bench.dest.wipe()
    alone = syncer_plan(bench, [largest_repo], names)
    scen.facts.append(
        f"extra run, not in the medians: syncer plan of {largest_repo.rsplit('/', 1)[-1]} "
        f"alone on the same {hosts} hosts: {alone.wall:.2f} s = {alone.wall / floor:.2f}x the "
        f"floor ({alone.cpu})"
    )
    profile = profile_path(bench, "fleet-cold.raw")
    if profile is not None:
        # One extra plan under py-spy, not part of the medians.
        bench.dest.wipe()
        syncer_plan(bench, repos, names, profile=profile)
        scen.profiles["syncer plan workers, cold (py-spy --gil: Python CPU)"] = profiling.summarize(
            sorted(profile.parent.glob("fleet-cold.*"))
        )
    tool = f"syncer plan --wait ({hosts}w)"
    ratio = scen.ratio(tool) or 0.0
    to_floor = scen.wall(tool) / floor
    scen.facts += [
        f"floor = largest blob {bench.main.largest_blob / (1 << 20):.1f} MiB / {mbit} Mbit/s "
        f"= {floor:.2f} s; syncer plan = {to_floor:.2f}x the floor",
        f"pinned: registries and Redis on CPU {_cpus(SERVER_CPUS)}, workers and planner on "
        f"CPU {_cpus(copier_cpus)} (the rest of the machine unpinned)",
        "skopeo split by hand: "
        + "; ".join(
            f"host {i + 1}: {', '.join(r.rsplit('/', 1)[-1] for r in part)}"
            for i, part in enumerate(split)
        ),
    ]
    parts = [
        verdict(ratio, FLEET_LIMIT),
        verdict(to_floor, FLOOR_LIMIT).replace("x (", "x floor ("),
    ]
    pinned = tool + PINNED
    if pinned in scen.samples:
        parts.append("pinned " + verdict(scen.wall(pinned) / floor, FLOOR_LIMIT, "x floor"))
    parts.append(cpu_verdict(scen, tool, scen.baseline))
    scen.verdict = "; ".join(parts)
    return scen


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def cpu_verdict(scen: Scenario, tool: str, other: str) -> str:
    """``tool``'s core-s per GiB against ``other``'s: met when no more."""
    mine, theirs = scen.cpu_per_gib(tool), scen.cpu_per_gib(other)
    if mine is None or theirs is None:
        return "core-s/GiB: n/a (no bytes moved)"
    ok = "met" if mine <= theirs else "MISSED"
    return f"core-s/GiB: {ok}: {mine:.1f} (target <= {other}'s {theirs:.1f})"


def pinned_plan(
    bench: Bench, repos: list[str], hosts: list[str | None], cpus: frozenset[int]
) -> Sample:
    """``syncer plan --wait`` with the servers pinned to :data:`SERVER_CPUS` and the copier to
    ``cpus``: the registries' CPU no longer competes with the workers'."""
    servers = [p for p in (bench.source.pid, bench.dest.pid, bench.redis.pid) if p is not None]
    pin(servers, SERVER_CPUS)
    try:
        sample = syncer_plan(bench, repos, hosts, cpus=cpus)
    finally:
        pin(servers, all_cpus())
    return dataclasses.replace(sample, tool=sample.tool + PINNED)
