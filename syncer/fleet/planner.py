"""``syncer plan``: turn config rules into Celery tasks on Redis.

The planner never contacts a registry and never ships a credential: it sends
rules (references only) and plan options. Workers read credentials from
their own auth file. Tag listing for repo-wide and regex rules runs on the
workers as ``syncer.expand_rule`` tasks, so a repository with 50k tags never
blocks the CLI; explicit tags and digests go out here in ``syncer.sync_tags`` batches.
Tasks are sent by their stable names through a
:class:`~syncer.fleet.steps.context.Dispatcher` (the Celery one lives in
:mod:`syncer.fleet.broker`); no worker code and no Celery is imported here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from syncer import defaults
from syncer.config.files import SyncConfig
from syncer.engine.expansion import explicit_jobs, unique_jobs
from syncer.engine.jobs import ImageResult
from syncer.engine.options import SyncOptions
from syncer.engine.referrers import rule_policies
from syncer.fleet.protocol.messages import ExpandRule
from syncer.fleet.state.ledger import Ledger
from syncer.fleet.state.plans import PlanStore
from syncer.fleet.steps.context import Dispatcher
from syncer.fleet.steps.enqueue import fan_out, send
from syncer.fleet.steps.referrersteps import plan_meta
from syncer.fleet.verifyplan import send_prunes

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlanPreview:
    """What ``plan --dry-run`` shows."""

    expand_tasks: list[str]
    tag_tasks: list[str]
    broken: list[str] = field(default_factory=list)

    def render(self) -> str:
        """Human-readable listing."""
        lines = [f"expand_rule {key}" for key in self.expand_tasks]
        lines += [f"image {label}" for label in self.tag_tasks]
        lines += [f"failed {reason}" for reason in self.broken]
        batches = -(-len(self.tag_tasks) // defaults.TAG_BATCH)
        lines.append(
            f"dry run: {len(self.expand_tasks)} expand_rule task(s) and "
            f"{len(self.tag_tasks)} image(s) in {batches} sync_tags task(s) "
            "would be enqueued (nothing was sent)"
        )
        return "\n".join(lines)


def preview(config: SyncConfig) -> PlanPreview:
    """The tasks :func:`submit` would enqueue."""
    expand: list[str] = []
    jobs = []
    for rule in config.rules:
        if rule.needs_listing:
            expand.append(rule.key)
        else:
            jobs.extend(explicit_jobs(rule))
    # Across rules, as submit does: an image two rules name is one task.
    tags = [job.label for job in unique_jobs(jobs)]
    return PlanPreview(expand, tags, [bad.reason for bad in config.broken])


def submit(
    config: SyncConfig,
    options: SyncOptions,
    client: redis.Redis,
    dispatcher: Dispatcher,
    *,
    source: str = "",
    ttl: int = defaults.PLAN_TTL,
    meta: Mapping[str, Any] | None = None,
    prune: int | None = None,
) -> str:
    """Create a plan, enqueue its first tasks, and return the plan id.

    ``meta`` is added to the plan's record (a schedule's name, ``retry_of``).
    With ``prune`` (``--prune-max``), each repo-wide or regex rule also gets a
    ``verify_rule`` task that deletes its extra tags (:mod:`syncer.fleet.verifyplan`).
    """
    plans = PlanStore(client, ttl)
    record = {
        **(meta or {}),
        "source": source,
        "rules": len(config.rules),
        "force": options.force,
        "platforms": options.platforms.to_dict(),
        "limits": dict(config.limits),
        **plan_meta(options.referrers, options.referrer_types, rule_policies(config.rules)),
        **({"prune_max": prune} if prune is not None else {}),
    }
    expanding = [r for r in config.rules if r.needs_listing]
    listed = [r for r in config.rules if not r.needs_listing]
    jobs = unique_jobs([job for rule in listed for job in explicit_jobs(rule)])
    failed = sum(len(bad.destinations) for bad in config.broken)
    # The record counts the images planned here (the expansions add theirs),
    # and rules_pending counts one more, for the planner itself, so the plan
    # cannot look finished while tasks are still being enqueued.
    plan = plans.create(record, images=len(jobs) + failed, rules_pending=len(expanding) + 1)
    if prune is not None:
        send_prunes(config, client, dispatcher, plan, ttl)
    for rule in expanding:
        send(dispatcher, ExpandRule(plan, rule.to_dict()))
    fan_out(dispatcher, plan, jobs)
    # The planner's own pending count, and the broken entries' failures, in
    # the ledger's one step: it may end the plan (every image already done).
    ledger = Ledger(client, plans.ttl_for, plans.keep_due)
    ledger.count_once(plan, "", _broken_results(config), rules_pending=-1)
    log.info(
        "plan %s: %d image(s) and %d expansion task(s) enqueued, %d image(s) failed",
        plan,
        len(jobs),
        len(expanding),
        failed,
    )
    return plan


def _broken_results(config: SyncConfig) -> list[ImageResult]:
    """Each broken entry's images, as failed results (logged)."""
    failed = []
    for bad in config.broken:
        log.error("failed %s: %s", bad.key, bad.reason)
        for written in bad.destinations:
            failed.append(ImageResult(bad.key, written, "failed", bad.reason, rule=bad.key))
    return failed
