"""Result bookkeeping of the distributed mode: each image's outcome, counted once.

Every way an image ends (skipped, synced, failed before or while pushing, or
its rule could not be expanded) goes through :func:`finish`, so redelivered
tasks and two rules naming one image never count it twice. Each is one atomic
step of :mod:`syncer.fleet.state.ledger`: a worker killed in the middle leaves the
image either unsettled (its redelivery settles it) or settled and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from syncer.config.rules import Rule
from syncer.engine.expansion import rule_failures
from syncer.engine.jobs import ImageResult
from syncer.errors import MessageError, SyncerError
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.messages import ImageRecord
from syncer.fleet.state.ledger import GONE, RECORD, Finish
from syncer.fleet.steps.context import FleetContext

log = logging.getLogger(__name__)


def finish(
    fleet: FleetContext, plan: str, image: str, result: ImageResult, *, stored: bool = True
) -> None:
    """Record an image's result once, or settle the count of another rule naming it.

    ``stored``: the image has a push record, dropped once it is settled.
    """
    finish_many(fleet, plan, [(image, result)], stored=stored)


def finish_many(
    fleet: FleetContext,
    plan: str,
    images: Sequence[tuple[str, ImageResult]],
    *,
    stored: bool = True,
) -> None:
    """:func:`finish` for each of ``images`` (id, result), in one step."""
    # Each rule that named an image counted it once in tags_total. The first
    # finisher records the result; another rule naming the same (source,
    # destination) settles its own count; a redelivered task of a rule already
    # counted changes nothing. Decided in one step: two runs of one push at
    # once (a retry beside its requeued original) counted it done and skipped.
    items = [
        Finish(image, keys.once_finished(image, result.rule), result, stored)
        for image, result in images
    ]
    for item, outcome in zip(items, fleet.ledger.finish_many(plan, items), strict=True):
        result = item.result
        if outcome == GONE:
            log.warning(
                "%s %s -> %s not recorded: plan %s is gone from Redis",
                result.status,
                result.source,
                result.dest,
                plan,
            )
        elif outcome == RECORD:
            log.info(
                "%s %s -> %s%s",
                result.status,
                result.source,
                result.dest,
                f": {result.reason}" if result.reason else "",
            )


def tag_failed(
    fleet: FleetContext, plan: str, source: str, dest: str, rule: str, reason: str
) -> None:
    """Record an image that failed before or while pushing.

    References as the task got them: one that does not parse fails this way too.
    """
    image = keys.image_id(source, dest)
    finish(fleet, plan, image, ImageResult(source, dest, "failed", reason, rule=rule))


def fail_image(fleet: FleetContext, plan: str, image: str, reason: str) -> None:
    """Record a stored image as failed (one whose record is gone was settled already)."""
    body = fleet.board.load_image(plan, image)
    if not body:
        return
    try:
        rec = ImageRecord.from_body(body)
    except MessageError:  # a record that does not decode still fails its image
        result = ImageResult(f"image {image}", "", "failed", reason)
    else:
        result = ImageResult(rec.source or image, rec.dest, "failed", reason, rule=rec.rule)
    finish(fleet, plan, image, result)


def expand_failed(fleet: FleetContext, plan: str, rule: Mapping[str, Any], reason: str) -> None:
    """Record a rule whose tags could not be listed: one failure per destination."""
    try:
        parsed = Rule.from_dict(dict(rule))
    except SyncerError:
        _unreadable_rule_failed(fleet, plan, rule, reason)
        return
    failures = rule_failures(parsed, reason)
    token = keys.once_expand(parsed.key)
    fleet.ledger.count_once(plan, token, failures, tags_total=len(failures), rules_pending=-1)


def _unreadable_rule_failed(fleet: FleetContext, plan: str, rule: object, reason: str) -> None:
    """A rule that does not decode counts as one failed image, so the plan still ends."""
    key = str(rule.get("key", "")) if isinstance(rule, Mapping) else ""
    failed = ImageResult(key, "", "failed", reason, rule=key)
    fleet.ledger.count_once(plan, keys.once_expand(key), [failed], tags_total=1, rules_pending=-1)
