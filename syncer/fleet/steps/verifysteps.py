"""The verify and prune steps of the fleet: ``plan --verify`` and ``plan --prune``.

A ``verify_rule`` task lists its rule (and its peers, the other rules writing
to one of its destination repositories, whose tags are never extra), finds
the extra tags, and either

* in a verify plan: records the rule's rows and sends its images out as
  ``verify_tags`` batches, which any worker checks; or
* in a prune plan: checks its images itself (a delete by digest must know
  every digest the source still has), decides each extra tag, and hands the
  decisions in. The rule that hands in last weighs the whole plan against
  ``--prune-max`` and deletes, before it settles its rule, so the plan ends
  only once the deletions are done.

Counting is guarded by once-tokens, so a redelivered task neither counts
twice nor deletes twice (a second DELETE of a tag already gone is a 404).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from syncer import defaults
from syncer.config.rules import Rule
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.jobs import TagJob
from syncer.engine.referrers import Follower, ReferrerPolicy
from syncer.engine.verify import Check, Listing, check_image, list_rule
from syncer.engine.verifyrun import Prune, decide_all, execute, find_extras, listing_failures
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.messages import VerifyRule, VerifyTags
from syncer.fleet.state.checks import CheckStore
from syncer.fleet.steps.context import FleetContext
from syncer.fleet.steps.enqueue import send
from syncer.oci.manifest import PlatformFilter
from syncer.oci.reference import Repository

log = logging.getLogger(__name__)


def store(fleet: FleetContext, plan: str) -> CheckStore:
    """The plan's check store, with the plan's own TTL."""
    return CheckStore(fleet.redis, fleet.plans.ttl_for(plan))


def _platforms(fleet: FleetContext, plan: str) -> PlatformFilter:
    return PlatformFilter.from_dict(fleet.plans.settings(plan).get("platforms"))


def _follower(fleet: FleetContext, plan: str) -> Follower | None:
    """The plan's referrer policy as a follower with marks of its own (verify asks, always)."""
    conf = fleet.plans.settings(plan).get("referrers")
    if not isinstance(conf, dict):
        return None
    policy = ReferrerPolicy(bool(conf.get("enabled")), tuple(conf.get("types") or ()))
    rules = dict(conf.get("rules") or {})
    return Follower(fleet.pool, policy, rules, marks=MemoryBlobCache())


def _checked(
    fleet: FleetContext, plan: str, jobs: list[TagJob], referrers: bool = False
) -> list[Check]:
    platforms = _platforms(fleet, plan)
    follower = _follower(fleet, plan) if referrers else None
    with ThreadPoolExecutor(defaults.TASK_THREADS, "verify") as pool:
        found = pool.map(lambda j: check_image(j, fleet.pool, platforms, follower), jobs)
        return [c for rows in found for c in rows]


def verify_rule(fleet: FleetContext, msg: VerifyRule) -> int:
    """Verify or prune one rule (see the module docstring); return how many images it has."""
    plan = msg.plan
    if fleet.plans.cancelled(plan):
        return 0
    conf = fleet.plans.settings(plan).get("referrers")
    follows = isinstance(conf, dict) and bool(conf.get("enabled"))

    def listed(rule: dict[str, Any]) -> Listing:
        return list_rule(Rule.from_dict(rule), fleet.pool, referrers=follows)

    listing = listed(msg.rule)
    listings = [listing, *(listed(p) for p in msg.peers)]
    rows = listing_failures(listing)
    found = find_extras(listings, fleet.pool, mine=[listing])
    rows += [c for c in found if c.status != "extra"]
    extra = [c for c in found if c.status == "extra"]
    if msg.prune:
        checked = _checked(fleet, plan, listing.jobs)
        decided, kept_of = decide_all(extra, listings, fleet.pool, checked)
        _hand_in(fleet, plan, listing, decided, kept_of, checked)
    else:
        decided, _ = decide_all(extra, listings, fleet.pool)
        for start in range(0, len(listing.jobs), defaults.TAG_BATCH):
            batch = listing.jobs[start : start + defaults.TAG_BATCH]
            send(fleet.dispatch, VerifyTags(plan, tuple(j.to_dict() for j in batch)))
    if fleet.plans.once(plan, keys.once_verify(listing.rule.key)):
        if msg.prune:
            fleet.plans.bump(plan, rules_pending=-1)
        else:
            store(fleet, plan).record(plan, rows + decided)
            n = len(rows) + len(decided)
            fleet.plans.bump(plan, tags_total=n + len(listing.jobs), tags_done=n, rules_pending=-1)
    return len(listing.jobs)


def verify_tags(fleet: FleetContext, msg: VerifyTags) -> int:
    """Check a batch of images and record each row once; return how many were new."""
    plan = msg.plan
    if fleet.plans.cancelled(plan):
        return 0
    jobs = [TagJob.from_dict(j) for j in msg.jobs]
    rows = _checked(fleet, plan, jobs, referrers=True)
    keyed = {(c.source, c.dest): c for c in rows}
    pairs = [(str(j.source), str(j.dest)) for j in jobs]
    others = [c for c in rows if (c.source, c.dest) not in set(pairs)]  # referrers found
    new = _once(fleet, plan, pairs + [(c.source, c.dest) for c in others])
    mine = new[: len(pairs)]
    own = [keyed[p] for p, first in zip(pairs, mine, strict=True) if first and p in keyed]
    # A job sync would not copy (no platform matches) has no row: settled as skipped.
    skipped = sum(1 for p, first in zip(pairs, mine, strict=True) if first and p not in keyed)
    found = [c for c, first in zip(others, new[len(pairs) :], strict=True) if first]
    store(fleet, plan).record(plan, own + found)
    if own or found or skipped:
        done = len(own) + len(found)
        fleet.plans.bump(plan, tags_total=len(found), tags_done=done, tags_skipped=skipped)
    return len(own) + len(found)


def _once(fleet: FleetContext, plan: str, pairs: list[tuple[str, str]]) -> list[bool]:
    """Whether each (source, destination) is recorded here for the first time in the plan."""
    tokens = [keys.once_verified(keys.image_id(source, dest)) for source, dest in pairs]
    return fleet.plans.once_all(plan, tokens) if tokens else []


def _hand_in(
    fleet: FleetContext,
    plan: str,
    listing: Listing,
    decided: list[Check],
    kept_of: dict[Repository, dict[str, str]],
    checked: list[Check],
) -> None:
    """Hand in one rule's decisions; the last rule to do so deletes for the whole plan."""
    checks = store(fleet, plan)
    if fleet.plans.once(plan, keys.once_prune(listing.rule.key)):
        batch = {
            "rows": [c.to_dict() for c in decided],
            "kept": {str(repo): tags for repo, tags in kept_of.items()},
            "protected": sorted({c.source_digest for c in checked if c.source_digest}),
        }
        left = checks.add_candidates(plan, batch)
    else:
        left = checks.pruning(plan)  # a redelivery: its batch is in already
    if left <= 0:
        _prune_plan(fleet, plan, checks)


def _prune_plan(fleet: FleetContext, plan: str, checks: CheckStore) -> None:
    """Merge every rule's decisions and delete, unless more than the plan's ``--prune-max``."""
    rows: dict[str, Check] = {}
    kept_of: dict[Repository, dict[str, str]] = {}
    protected: set[str] = set()
    for batch in checks.candidates(plan):
        for row in batch.get("rows", ()):
            check = Check.from_dict(row)
            if rows.get(check.dest, check).prune != "kept":  # one rule's "kept" wins
                rows[check.dest] = check
        for repo, tags in _kept(batch):
            kept_of.setdefault(repo, {}).update(tags)
        protected.update(batch.get("protected", ()))
    limit = int(fleet.plans.settings(plan).get("prune_max", defaults.PRUNE_MAX))
    done, refused = execute(list(rows.values()), kept_of, Prune(limit), fleet.pool, protected)
    if refused:
        log.warning("plan %s: %s", plan, refused)
        checks.refuse(plan, refused)
    checks.record(plan, done)
    for row in done:
        if row.prune in ("deleted", "failed"):
            log.info("plan %s: %s %s %s", plan, row.prune, row.dest, row.reason)


def _kept(batch: dict[str, Any]) -> list[tuple[Repository, dict[str, str]]]:
    return [
        (Repository.parse(repo), dict(tags)) for repo, tags in (batch.get("kept") or {}).items()
    ]


def rule_failed(
    fleet: FleetContext, plan: str, rule: dict[str, Any], prune: bool, reason: str
) -> None:
    """A ``verify_rule`` task that failed for good: one unreadable row, and its rule settled."""
    key = str(rule.get("key", ""))
    if prune and fleet.plans.once(plan, keys.once_prune(key)):
        checks = store(fleet, plan)
        if checks.add_candidates(plan, {"rows": [], "kept": {}, "protected": []}) <= 0:
            _prune_plan(fleet, plan, checks)
    if not fleet.plans.once(plan, keys.once_verify(key)):
        return
    if prune:
        fleet.plans.bump(plan, rules_pending=-1)
        return
    dests = [str(d.get("repo", "")) for d in rule.get("destinations", ()) if isinstance(d, dict)]
    rows = [Check("unreadable", key, d, key, reason=reason) for d in dests or [""]]
    store(fleet, plan).record(plan, rows)
    n = len(dests) or 1
    fleet.plans.bump(plan, tags_total=n, tags_done=n, rules_pending=-1)


def tags_failed(fleet: FleetContext, plan: str, jobs: list[dict[str, Any]], reason: str) -> None:
    """A ``verify_tags`` task that failed for good: each image unreadable, counted once."""
    rows = [
        Check(
            "unreadable",
            str(j.get("source", "")),
            str(j.get("dest", "")),
            str(j.get("rule", "")),
            reason=reason,
        )
        for j in jobs
    ]
    tokens = [keys.once_verified(keys.image_id(c.source, c.dest)) for c in rows]
    fresh = [c for c, new in zip(rows, fleet.plans.once_all(plan, tokens), strict=True) if new]
    store(fleet, plan).record(plan, fresh)
    if fresh:
        fleet.plans.bump(plan, tags_done=len(fresh))
