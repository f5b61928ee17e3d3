"""Scenarios (e) worker memory with eight big streams, and (f) planning 10,000 tags."""

from __future__ import annotations

import logging
import resource
import subprocess
import time
from pathlib import Path

import redis

from bench import profiling
from bench.accesslog import max_concurrent
from bench.context import Bench
from bench.cputree import tree_cpu
from bench.procs import CommandFailed
from bench.report import Scenario
from bench.scenarios import profile_path, verdict
from bench.tools import plan_argv, syncer_plan, worker_fleet
from syncer.fleet.protocol import keys
from syncer.fleet.state.plans import PlanStore

log = logging.getLogger(__name__)

#: Concurrency of the worker in scenario (e).
MEMORY_CONCURRENCY = 8
#: Peak RSS target of (e), MiB.
MEMORY_LIMIT_MIB = 150
#: Planning target of (f), seconds.
PLAN_LIMIT_S = 10.0
#: Longest wait for (f)'s expansion before giving up, seconds.
PLAN_TIMEOUT_S = 400.0
#: After a run this slow, (f) is not repeated: the verdict is clear and time is bounded.
PLAN_REPEAT_UNDER_S = 60.0


def memory(bench: Bench, runs: int) -> Scenario:
    """(e): one worker at ``-p 8`` copies eight distinct big layers at once."""
    p = bench.profile
    scen = Scenario(
        "e",
        f"worker memory: {p.big_blobs} x {p.big_blob_size >> 20} MiB layers at concurrency "
        f"{MEMORY_CONCURRENCY}",
        f"worker peak RSS < {MEMORY_LIMIT_MIB} MiB",
    )
    repos = bench.dataset.big()
    for i in range(runs):
        bench.dest.wipe()
        start = bench.source.log_size()
        last = i == runs - 1
        sample = syncer_plan(
            bench,
            repos,
            [None],
            proc=MEMORY_CONCURRENCY,
            profile=profile_path(bench, "memory.raw") if last else None,
        )
        streams = max_concurrent(bench.source.log_path, start, "GET", "/blobs/sha256:")
        scen.add(sample)
        scen.facts.append(
            f"run {i + 1}: {streams} source blob GETs in flight at once (max), "
            f"{sample.bytes_moved / (1 << 30):.2f} GiB moved in {sample.wall:.1f} s"
        )
    rss = scen.median(scen_tool(scen), lambda s: s.peak_rss_kib) / 1024
    scen.verdict = verdict(rss, MEMORY_LIMIT_MIB, " MiB").replace("<=", "<")
    out = profile_path(bench, "memory.raw")
    if out is not None:
        scen.profiles["worker (py-spy --gil: Python CPU)"] = profiling.summarize(
            sorted(out.parent.glob("memory.*"))
        )
    return scen


def scen_tool(scen: Scenario) -> str:
    """The only tool of a one-copier scenario."""
    return next(iter(scen.samples))


def _expanded(client: redis.Redis, plan: str, want: int) -> bool:
    counters = client.hgetall(keys.plan_counters(plan))
    pending = int(counters.get(b"rules_pending", 1))
    return pending <= 0 and int(counters.get(b"tags_total", 0)) >= want


def _plan_once(bench: Bench, repo: str, profile: Path | None = None) -> tuple[float, float]:
    """Seconds from starting ``syncer plan`` until every tag's task is enqueued, and the
    core-seconds the workers and the planner used meanwhile.

    With ``profile``, py-spy samples the workers into ``profile.N``.
    """
    bench.redis.flush()
    client = redis.Redis.from_url(bench.redis.url)
    auth = bench.auth_file()
    workers: list[str | None] = [None] * bench.profile.loopback_workers
    try:
        with worker_fleet(bench, auth, workers, bench.options.worker_proc, profile) as fleet:
            argv = plan_argv(bench, auth, bench.images_file([repo], "many"))
            before = tree_cpu(fleet.roots) + _children_cpu()
            started = time.monotonic()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PLAN_TIMEOUT_S)
            if done.returncode != 0:
                raise CommandFailed(f"syncer plan failed: {done.stderr.strip()}")
            plan = done.stdout.strip().splitlines()[-1]
            while not _expanded(client, plan, bench.profile.many_tags):
                if time.monotonic() - started > PLAN_TIMEOUT_S:
                    raise CommandFailed(f"plan {plan} not expanded after {PLAN_TIMEOUT_S:.0f}s")
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            # The planner is this process's only child reaped in the window.
            cpu = tree_cpu(fleet.roots) + _children_cpu() - before
            PlanStore(client).cancel(plan)
    finally:
        client.close()
    return elapsed, cpu


def _children_cpu() -> float:
    """User + system seconds of this process's reaped children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def planning(bench: Bench) -> Scenario:
    """(f): list, plan and enqueue a repository of ``many_tags`` tags."""
    tags = bench.profile.many_tags
    scen = Scenario(
        "f",
        f"planning: one repository with {tags} tags listed, planned, enqueued",
        f"<= {PLAN_LIMIT_S:g} s",
    )
    repo = bench.dataset.many()
    out = profile_path(bench, "planning.raw")
    # The first run is sampled by py-spy (when profiling): an extra run would cost minutes.
    runs = [_plan_once(bench, repo, out)]
    while len(runs) < bench.options.runs and runs[-1][0] < PLAN_REPEAT_UNDER_S:
        runs.append(_plan_once(bench, repo))
    times = [t for t, _ in runs]
    if len(times) < bench.options.runs:
        scen.facts.append(
            f"not repeated: run 1 took over {PLAN_REPEAT_UNDER_S:.0f} s, far past the target"
        )
    if out is not None:
        scen.profiles["workers during run 1 (py-spy --gil: Python CPU)"] = profiling.summarize(
            sorted(out.parent.glob("planning.*"))
        )
    times.sort()
    median = times[len(times) // 2]
    scen.facts.append(
        f"seconds from `syncer plan` start until all {tags} images were enqueued "
        f"(rules_pending = 0, tags_total = {tags}), {bench.profile.loopback_workers} workers "
        f"running: {', '.join(f'{t:.2f}' for t in times)}; median {median:.2f}"
    )
    cpu = sorted(c for _, c in runs)[len(runs) // 2]
    scen.facts.append(
        f"copier core-s (workers and planner, until enqueued): "
        f"{', '.join(f'{c:.1f}' for _, c in runs)}; median {cpu:.1f} = "
        f"{1000 * cpu / tags:.1f} core-ms/tag"
    )
    scen.facts.append("the plan is cancelled once measured, so the tags are not copied")
    scen.verdict = verdict(median, PLAN_LIMIT_S, " s")
    return scen
