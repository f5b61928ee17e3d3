"""Result bookkeeping of the distributed mode: each image's outcome, counted once.

Every way an image ends (skipped, synced, failed before or while pushing, or
its rule could not be expanded) goes through :func:`finish`, so redelivered
tasks and two rules naming one image never count it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from syncer.config.rules import Rule
from syncer.engine.expansion import rule_failures
from syncer.engine.jobs import ImageResult
from syncer.errors import SyncerError
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.messages import ImageRecord
from syncer.fleet.state.images import COUNT_RULE, RECORD
from syncer.fleet.steps.context import FleetContext

log = logging.getLogger(__name__)


def finish(fleet: FleetContext, plan: str, image: str, result: ImageResult) -> None:
    """Record an image's result once, or settle the count of another rule naming it."""
    # Each rule that named this image counted it once in tags_total. The first
    # finisher records the result; another rule naming the same (source,
    # destination) settles its own count; a redelivered task of a rule already
    # counted changes nothing. Decided in one step: two runs of one push at
    # once (a retry beside its requeued original) counted it done and skipped.
    token = keys.once_finished(image, result.rule)
    outcome = fleet.board.settle(plan, image, keys.plan_once(plan), token)
    if outcome == RECORD:
        fleet.plans.record(plan, result)
        log.info(
            "%s %s -> %s%s",
            result.status,
            result.source,
            result.dest,
            f": {result.reason}" if result.reason else "",
        )
    elif outcome == COUNT_RULE:
        fleet.plans.bump(plan, tags_skipped=1)


def tag_failed(
    fleet: FleetContext, plan: str, source: str, dest: str, rule: str, reason: str
) -> None:
    """Record an image that failed before or while pushing.

    References as the task got them: one that does not parse fails this way too.
    """
    image = keys.image_id(source, dest)
    finish(fleet, plan, image, ImageResult(source, dest, "failed", reason, rule=rule))


def fail_image(fleet: FleetContext, plan: str, image: str, reason: str) -> None:
    """Record a stored image as failed."""
    rec = ImageRecord.from_body(fleet.board.load_image(plan, image))
    result = ImageResult(rec.source or image, rec.dest, "failed", reason, rule=rec.rule)
    finish(fleet, plan, image, result)


def expand_failed(fleet: FleetContext, plan: str, rule: Mapping[str, Any], reason: str) -> None:
    """Record a rule whose tags could not be listed: one failure per destination."""
    try:
        parsed = Rule.from_dict(dict(rule))
    except SyncerError:
        _unreadable_rule_failed(fleet, plan, rule, reason)
        return
    if not fleet.plans.once(plan, keys.once_expand(parsed.key)):
        return
    failures = rule_failures(parsed, reason)
    fleet.plans.bump(plan, tags_total=len(failures), rules_pending=-1)
    for result in failures:
        fleet.plans.record(plan, result)


def _unreadable_rule_failed(fleet: FleetContext, plan: str, rule: object, reason: str) -> None:
    """A rule that does not decode counts as one failed image, so the plan still ends."""
    key = str(rule.get("key", "")) if isinstance(rule, Mapping) else ""
    if fleet.plans.once(plan, keys.once_expand(key)):
        fleet.plans.bump(plan, tags_total=1, rules_pending=-1)
        fleet.plans.record(plan, ImageResult(key, "", "failed", reason, rule=key))
