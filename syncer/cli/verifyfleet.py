"""``syncer plan --verify``, and the report ``plan --prune --wait`` adds: verify on the fleet."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from syncer import defaults
from syncer.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from syncer.cli.verify import prune_limit, prune_lines, render
from syncer.errors import ConfigError

if TYPE_CHECKING:  # the engine loads with a verify plan, not with the parsers
    import redis

    from syncer.config.files import SyncConfig
    from syncer.engine.options import SyncOptions
    from syncer.engine.verifyrun import Report

#: How often ``plan --verify`` looks at the plan's counters.
_POLL = 0.25


def add_plan_verify_arguments(p: argparse.ArgumentParser) -> None:
    """``plan --verify``, ``--prune`` and ``--prune-max``."""
    from syncer.cli.verify import add_prune_arguments

    p.add_argument(
        "--verify",
        action="store_true",
        help="check the mirror on the workers instead of copying (waits; exits like verify)",
    )
    add_prune_arguments(p, "also")


def check_flags(args: argparse.Namespace) -> None:
    """Refuse flag combinations that mean nothing."""
    if args.verify and args.prune:
        raise ConfigError("--verify shows what --prune would delete: pass one of them")
    if args.verify and args.dry_run:
        raise ConfigError("--verify writes nothing already: drop --dry-run")


def plan_verify(
    args: argparse.Namespace,
    client: redis.Redis,
    config: SyncConfig,
    options: SyncOptions,
    source: str,
) -> int:
    """Send a verify plan, wait for it, and print the report as ``syncer verify`` does."""
    from syncer.fleet.broker import CeleryDispatcher, celery_app
    from syncer.fleet.state.plans import PlanStore
    from syncer.fleet.verifyplan import submit_verify

    if config.broken:
        raise ConfigError(config.broken[0].reason)
    app = celery_app(defaults.redis_url(args.redis))
    plan = submit_verify(
        config,
        options,
        client,
        CeleryDispatcher(app),
        source=source,
        ttl=args.ttl,
        prune_max=prune_limit(args),
    )
    print(f"plan {plan}", file=sys.stderr, flush=True)
    store = PlanStore(client)
    # plan --wait's watch: one line when no worker consumes (the plan waits for one).
    from syncer.cli.planview import _WorkerWatch

    watch = _WorkerWatch(store, sys.stderr)
    try:
        while not store.finished(plan):
            watch.check()
            time.sleep(_POLL)
    except KeyboardInterrupt:
        print(f"\nstopped waiting; see syncer status {plan}", file=sys.stderr)
        return EXIT_INTERRUPTED
    report = fleet_report(client, plan, pruning=True)
    if args.output == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report))
    return EXIT_FAILED if report.drifted or report.refused else EXIT_OK


def fleet_report(client: redis.Redis, plan: str, *, pruning: bool) -> Report:
    """A plan's recorded checks as a verify report."""
    from syncer.fleet.state.checks import CheckStore

    store = CheckStore(client, defaults.PLAN_TTL)
    from syncer.engine.verifyrun import Report

    return Report(store.checks(plan), store.refused(plan), pruning)


def print_prunes(client: redis.Redis, plan: str) -> bool:
    """After ``plan --prune --wait``: what the prune did, on stderr; whether it failed."""
    report = fleet_report(client, plan, pruning=True)
    for line in prune_lines(report):
        print(line, file=sys.stderr)
    return report.prune_failed


def dry_prune_lines(
    config: SyncConfig, options: SyncOptions, args: argparse.Namespace
) -> list[str]:
    """``plan --dry-run --prune``: what the prune would delete, read with the planner's auth."""
    from syncer.cli.verify import prune_pass
    from syncer.registry.credentials import Credentials
    from syncer.registry.pool import ClientPool

    pool = ClientPool(Credentials(config.auth), pool_size=options.proc)
    try:
        return list(prune_lines(prune_pass(config, options, pool, args)))
    finally:
        pool.close()
