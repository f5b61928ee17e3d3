"""Scenarios where the cost is per tag, not per byte (issue #13).

* (g) N small tags in one repository (one shared 1 MiB base layer and a
  unique 4 KiB layer each), cold and no-op: ``syncer sync``, ``syncer plan``
  with the loopback workers, skopeo, and image-syncer when it is there;
* (h) the no-op re-sync at scale: the many-tags repository of (f), already
  synced, checked again by ``syncer plan --wait``, listing included.
"""

from __future__ import annotations

import logging

from bench.context import Bench
from bench.report import Scenario
from bench.scenarios import absent_note, cold_and_noop, local_runners, ratio_verdict, verdict
from bench.settings import SMALL_BASE_SIZE, SMALL_LAYER_SIZE
from bench.tools import syncer_plan, syncer_sync

log = logging.getLogger(__name__)

SYNC, SKOPEO = "syncer sync", "skopeo sync"
#: (g) targets: plan over sync (cold and no-op); sync over skopeo, cold and no-op.
PLAN_LIMIT, SKOPEO_COLD_LIMIT, SKOPEO_NOOP_LIMIT = 1.0, 0.5, 0.35
#: (g) above this many tags: one round, without image-syncer.
SMALL_TAGS_FULL_RUNS = 1000
#: (h) target, seconds.
SCALE_LIMIT_S = 30.0


def plan_tool(bench: Bench) -> str:
    """The table's name for the loopback plan run."""
    return f"syncer plan --wait ({bench.profile.loopback_workers}w)"


def small_tags(bench: Bench, count: int) -> list[Scenario]:
    """(g) for ``count`` tags: a cold and a no-op scenario sharing their runs."""
    plan = plan_tool(bench)
    title = f"{count} small tags in one repository"
    cold = Scenario(
        "g",
        f"{title}, cold",
        f"{plan} <= {PLAN_LIMIT:g}x syncer sync; syncer sync <= {SKOPEO_COLD_LIMIT:g}x skopeo",
        baseline=SYNC,
        tags=count,
    )
    noop = Scenario(
        "g",
        f"{title}, no-op",
        f"{plan} <= {PLAN_LIMIT:g}x syncer sync with zero source manifest GETs; "
        f"syncer sync <= {SKOPEO_NOOP_LIMIT:g}x skopeo",
        baseline=SYNC,
        tags=count,
    )
    repo = bench.dataset.small(count)
    # A cold round of every copier over 5,000 tags takes about half an hour on
    # the 2-core machine: the big count gets one round, without image-syncer.
    big = count > SMALL_TAGS_FULL_RUNS
    runners = local_runners(bench, [repo], image_syncer_too=not big)
    cold_and_noop(bench, runners, [repo], cold, noop, runs=1 if big else None)
    cold.verdict = "; ".join(
        [
            ratio_verdict("plan vs sync", cold, plan, SYNC, PLAN_LIMIT),
            ratio_verdict("sync vs skopeo", cold, SYNC, SKOPEO, SKOPEO_COLD_LIMIT),
        ]
    )
    noop.verdict = "; ".join(
        [
            noop_plan_verdict(noop, plan),
            ratio_verdict("sync vs skopeo", noop, SYNC, SKOPEO, SKOPEO_NOOP_LIMIT),
        ]
    )
    cold.facts.append(
        f"data: {repo}, {count} tags, each a Docker v2 image of a shared "
        f"{SMALL_BASE_SIZE >> 20} MiB base layer, its own {SMALL_LAYER_SIZE >> 10} KiB layer "
        f"and its own config; core-ms/tag = copier core-s x 1000 / {count}"
    )
    for scen in (cold, noop):
        scen.facts += filter(None, [absent_note(bench)])
        if big:
            scen.facts.append(
                f"{count} tags: one run of each copier, and no image-syncer run "
                f"(counts above {SMALL_TAGS_FULL_RUNS} get one round, to keep the bench "
                "under an hour)"
            )
    return [cold, noop]


def noop_plan_verdict(scen: Scenario, plan: str) -> str:
    """Plan no-op over sync no-op, met only with zero source manifest GETs by the plan."""
    if plan not in scen.samples or SYNC not in scen.samples:
        return f"plan vs sync: n/a (no runs of {plan} or {SYNC})"
    gets = scen.median(plan, lambda s: s.manifest_gets)
    ratio = scen.wall(plan) / scen.wall(SYNC)
    return (
        f"plan vs sync: {verdict(ratio, PLAN_LIMIT, extra=gets == 0)}, "
        f"plan source manifest GETs {gets:.0f}"
    )


def noop_at_scale(bench: Bench) -> Scenario:
    """(h): ``syncer plan --wait`` re-checks every tag of the many-tags repository, all synced."""
    tags = bench.profile.many_tags
    plan = plan_tool(bench)
    scen = Scenario(
        "h",
        f"no-op re-sync at scale: {tags} tags of one repository, already synced",
        f"{plan} <= {SCALE_LIMIT_S:g} s including listing the tags, zero source manifest GETs",
        tags=tags,
    )
    repo = bench.dataset.many()
    bench.dest.wipe()
    seed = syncer_sync(bench, [repo])
    scen.facts.append(
        f"destination filled first by one `syncer sync` (not in the table): {seed.wall:.1f} s, "
        f"exit {'0' if seed.ok else 'non-zero'}"
    )
    workers: list[str | None] = [None] * bench.profile.loopback_workers
    for i in range(bench.options.runs):
        sample = syncer_plan(bench, [repo], workers)
        log.info("run %d no-op at scale: %s", i + 1, sample)
        scen.add(sample)
    gets = scen.median(plan, lambda s: s.manifest_gets)
    scen.verdict = (
        verdict(scen.wall(plan), SCALE_LIMIT_S, " s", extra=gets == 0)
        + f"; source manifest GETs {gets:.0f}"
    )
    return scen
