"""``plan --verify`` and the prune tasks of ``plan --prune``: rules out as ``verify_rule`` tasks.

Like the planner, this never contacts a registry: each rule goes out with
its *peers*, the other rules writing to one of its destination repositories,
so the worker that lists it knows which tags there are not extra
(:mod:`syncer.fleet.steps.verifysteps` does the rest).
"""

from __future__ import annotations

import redis

from syncer import defaults
from syncer.config.files import SyncConfig
from syncer.config.rules import Rule
from syncer.engine.options import SyncOptions
from syncer.engine.referrers import rule_policies
from syncer.engine.verify import Check
from syncer.fleet.protocol.messages import VerifyRule
from syncer.fleet.state.checks import CheckStore
from syncer.fleet.state.plans import PlanStore
from syncer.fleet.steps.context import Dispatcher
from syncer.fleet.steps.enqueue import send
from syncer.fleet.steps.referrersteps import plan_meta


def peers(rule: Rule, rules: list[Rule]) -> tuple[Rule, ...]:
    """The other rules writing to one of ``rule``'s destination repositories."""
    mine = {d.repo for d in rule.destinations}
    return tuple(
        other
        for other in rules
        if other is not rule and mine & {d.repo for d in other.destinations}
    )


def _message(plan: str, rule: Rule, rules: list[Rule], prune: bool) -> VerifyRule:
    others = tuple(p.to_dict() for p in peers(rule, rules))
    return VerifyRule(plan, rule.to_dict(), others, int(prune))


def send_prunes(
    config: SyncConfig, client: redis.Redis, dispatcher: Dispatcher, plan: str, ttl: int
) -> int:
    """Send a prune ``verify_rule`` per repo-wide or regex rule of a new plan; return how many.

    Each counts as a pending rule until its deletions are done.
    """
    rules = list(config.rules)
    pruning = [r for r in rules if r.kind in ("all", "regex")]
    if not pruning:
        return 0
    CheckStore(client, ttl).expect_pruning(plan, len(pruning))
    PlanStore(client, ttl).bump(plan, rules_pending=len(pruning))
    for rule in pruning:
        send(dispatcher, _message(plan, rule, rules, prune=True))
    return len(pruning)


def submit_verify(
    config: SyncConfig,
    options: SyncOptions,
    client: redis.Redis,
    dispatcher: Dispatcher,
    *,
    source: str = "",
    ttl: int = defaults.PLAN_TTL,
    prune_max: int = defaults.PRUNE_MAX,
) -> str:
    """Create a verify plan, send one ``verify_rule`` task per rule, and return the plan id."""
    plans = PlanStore(client, ttl)
    meta = {
        "source": source,
        "verify": True,
        "rules": len(config.rules),
        "platforms": options.platforms.to_dict(),
        "prune_max": prune_max,
        **plan_meta(options.referrers, options.referrer_types, rule_policies(config.rules)),
    }
    plan = plans.create(meta)
    rules = list(config.rules)
    plans.bump(plan, rules_pending=len(rules) + 1)
    for rule in rules:
        send(dispatcher, _message(plan, rule, rules, prune=False))
    broken = [
        Check("unreadable", bad.key, dest, bad.key, reason=bad.reason)
        for bad in config.broken
        for dest in bad.destinations
    ]
    CheckStore(client, ttl).record(plan, broken)
    plans.bump(plan, tags_total=len(broken), tags_done=len(broken), rules_pending=-1)
    return plan
