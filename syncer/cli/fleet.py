"""``syncer plan``, ``status``, ``cancel`` and ``worker``: the distributed commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from syncer import defaults
from syncer.cli.args import add_config_arguments, load, refuse_layouts, sync_options
from syncer.cli.exits import EXIT_FAILED, EXIT_LOST, EXIT_OK
from syncer.cli.redisargs import checked_url, connect, redis_arg, redis_name
from syncer.cli.verifyfleet import add_plan_verify_arguments, check_flags
from syncer.errors import ConfigError

# redis, and what imports it (the plan view, the stores), load only in the
# commands that talk to it: `syncer --version` builds these parsers too.
if TYPE_CHECKING:
    import redis

    from syncer.config.files import SyncConfig
    from syncer.engine.options import SyncOptions
    from syncer.fleet.state.plans import PlanStatus, PlanStore


def add_fleet_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the distributed subcommands."""
    plan = sub.add_parser("plan", help="enqueue a config as Celery tasks for a worker fleet")
    add_config_arguments(plan)
    redis_arg(plan)
    plan.add_argument("--wait", action="store_true", help="follow progress; exit like sync")
    plan.add_argument(
        "--ttl",
        type=int,
        default=defaults.PLAN_TTL,
        help="seconds to keep the plan's state in Redis (default 7 days)",
    )
    plan.add_argument(
        "--output", choices=("text", "json"), default="text", help="summary format on stdout"
    )
    plan.add_argument(
        "--no-credential-check",
        action="store_true",
        help="only warn when no live worker holds credentials the planner's auth has",
    )
    plan.add_argument(
        "--retry-failed",
        metavar="PLAN_ID",
        help="re-plan exactly the failed images of a finished plan (no config needed)",
    )
    add_plan_verify_arguments(plan)
    plan.set_defaults(func=cmd_plan)

    status = sub.add_parser("status", help="show a plan's progress and report")
    status.add_argument("plan_id", help="the plan id `syncer plan` printed")
    redis_arg(status)
    status.add_argument("--follow", "-f", action="store_true", help="redraw until finished")
    status.add_argument(
        "--output", choices=("text", "json"), default="text", help="report format on stdout"
    )
    status.set_defaults(func=cmd_status)

    cancel = sub.add_parser(
        "cancel",
        help="cancel a plan: queued tasks are dropped, in-flight streams stop at the next chunk",
    )
    cancel.add_argument("plan_id", help="the plan id `syncer plan` printed")
    redis_arg(cancel)
    cancel.set_defaults(func=cmd_cancel)

    worker = sub.add_parser("worker", help="run a Celery worker with syncer's defaults")
    redis_arg(worker)
    worker.add_argument(
        "--auth", help="auth file with this worker's credentials (sets SYNCER_AUTH_FILE)"
    )
    worker.add_argument(
        "-p",
        "--proc",
        "--concurrency",
        dest="proc",
        type=int,
        default=defaults.PROC,
        help=f"concurrent tasks (default {defaults.PROC})",
    )
    worker.add_argument("-n", "--hostname", help="Celery node name")
    worker.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on this port (env SYNCER_METRICS_PORT; default off)",
    )
    worker.add_argument(
        "--metrics-addr",
        help="address the metrics port binds (default $SYNCER_METRICS_ADDR, else 127.0.0.1; "
        "syncer's container image sets 0.0.0.0)",
    )
    worker.set_defaults(func=cmd_worker)


def _store(url: str | None) -> PlanStore:
    from syncer.fleet.state.plans import PlanStore

    return PlanStore(connect(url))


def cmd_plan(args: argparse.Namespace) -> int:
    """``syncer plan``."""
    from syncer.fleet import planner

    if args.retry_failed:
        return _retry_failed(args)
    config = load(args)
    refuse_layouts(config)
    check_flags(args)
    if args.dry_run:
        from syncer.cli.dryrun import plan_filter_report

        preview = planner.preview(config)
        print("\n".join([*plan_filter_report(config), preview.render()]))
        if args.prune:  # with the planner's credentials, as the filter report
            from syncer.cli.verifyfleet import dry_prune_lines

            print("\n".join(dry_prune_lines(config, sync_options(args), args)))
        # As `plan --wait` would end: a broken entry fails its images there.
        return EXIT_FAILED if preview.broken else EXIT_OK
    client = connect(args.redis)
    warn_eviction(client)
    preflight(config, client, args.no_credential_check)
    source = str(args.config or args.config_file or args.images)
    if args.verify:
        from syncer.cli.verifyfleet import plan_verify

        return plan_verify(args, client, config, sync_options(args), source)
    return submit_and_follow(args, client, config, sync_options(args), source)


def submit_and_follow(
    args: argparse.Namespace,
    client: redis.Redis,
    config: SyncConfig,
    options: SyncOptions,
    source: str,
    **meta: str,
) -> int:
    """Plan ``config``, print the plan id, and with ``--wait`` follow it to its exit code.

    ``meta`` is merged into the plan's record (``retry_of``, for one). With
    ``--wait``, a plan Redis lost is submitted again (``cli/planwait.py``).
    """
    from syncer.cli.planwait import Submitter, wait
    from syncer.cli.verify import prune_limit
    from syncer.fleet.broker import CeleryDispatcher, celery_app
    from syncer.fleet.state.plans import PlanStore

    where = redis_name(args.redis)
    prune = prune_limit(args) if getattr(args, "prune", False) else None
    submitter = Submitter(
        client,
        config,
        options,
        dispatcher=CeleryDispatcher(celery_app(defaults.redis_url(args.redis))),
        where=where,
        source=source,
        ttl=args.ttl,
        meta=meta,
        prune=prune,
    )
    plan = submitter.submit()
    if args.output == "text" or not args.wait:
        print(plan, flush=True)
    else:
        print(f"plan {plan}", file=sys.stderr, flush=True)
    if not args.wait:
        return EXIT_OK
    code = wait(PlanStore(client), submitter, plan, args.output, where)
    if prune is not None:
        from syncer.cli.verifyfleet import print_prunes

        if print_prunes(client, submitter.last) and code == EXIT_OK:
            code = EXIT_FAILED
    return code


def _retry_failed(args: argparse.Namespace) -> int:
    """``syncer plan --retry-failed ID``: a new plan of exactly the failed images of ID."""
    from syncer.fleet import planner
    from syncer.fleet.state.history import retry_config
    from syncer.fleet.state.plans import PlanStore

    if args.config or args.config_file or args.images:
        raise ConfigError("--retry-failed takes its images from the plan: pass no config")
    client = connect(args.redis)
    config, options = retry_config(PlanStore(client), args.retry_failed)
    if not config.rules and not config.broken:
        print(f"plan {args.retry_failed} has no failed images", file=sys.stderr)
        return EXIT_OK
    if args.dry_run:
        preview = planner.preview(config)
        print(preview.render())
        return EXIT_FAILED if preview.broken else EXIT_OK
    source = f"retry of {args.retry_failed}"
    return submit_and_follow(args, client, config, options, source, retry_of=args.retry_failed)


def preflight(config: SyncConfig, client: redis.Redis, warn_only: bool) -> None:
    """Refuse a plan whose credentials no live worker holds (they never travel through Redis)."""
    from syncer.fleet.state.roster import Roster, credential_keys, uncovered

    if credential_keys(config.auth):
        print(
            "syncer: the planner's credentials stay here: workers use their own auth file "
            "(syncer worker --auth FILE, or SYNCER_AUTH_FILE)",
            file=sys.stderr,
        )
    workers = Roster(client).alive()
    if not workers:
        if credential_keys(config.auth):
            print(
                "syncer: warning: no worker is alive yet, so their credentials cannot be checked",
                file=sys.stderr,
            )
        return
    gaps = uncovered(config.rules, config.auth, workers)
    if not gaps:
        return
    more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
    text = (
        f"{gaps[0]}{more}: give the {len(workers)} live worker(s) that auth file "
        "(syncer worker --auth FILE, or SYNCER_AUTH_FILE)"
    )
    if not warn_only:
        raise ConfigError(text + ", or pass --no-credential-check")
    print(f"syncer: warning: {text}", file=sys.stderr)


def warn_eviction(client: redis.Redis) -> None:
    """One line on stderr when Redis may evict the fleet's keys (``maxmemory-policy``)."""
    from syncer.fleet.protocol.redisclient import eviction_risk

    risk = eviction_risk(client)
    if risk:
        print(f"syncer: warning: {risk}", file=sys.stderr)


def cmd_status(args: argparse.Namespace) -> int:
    """``syncer status PLAN_ID``: ``lost`` and why (exit 3) for a plan Redis lost."""
    from syncer.cli.planview import follow, plan_exit, print_final, print_lost, render
    from syncer.fleet.state.liveness import why_missing

    store = _store(args.redis)
    if not store.exists(args.plan_id):
        why = why_missing(store.redis, args.plan_id)
        if not why:
            raise ConfigError(f"plan {args.plan_id!r} not found (expired, or another Redis?)")
        print_lost(store.status(args.plan_id, results=False), why, args.output)
        return EXIT_LOST
    if args.follow:
        return follow(store, args.plan_id, args.output, sys.stderr, redis_name(args.redis))
    status = _reconciled(store, store.status(args.plan_id))
    if status.lost:
        print_lost(status, status.lost, args.output)
        return EXIT_LOST
    if not status.finished and args.output == "json":
        print_final(status, "json")  # the documented report, with "state": "running"
        return EXIT_OK
    if not status.finished:
        from syncer.fleet.state.roster import Roster

        print(render(status, workers=len(Roster(store.redis).alive())))
        return EXIT_OK
    if status.cancelled:
        print(f"plan {args.plan_id} was cancelled", file=sys.stderr)
    print_final(status, args.output)
    return plan_exit(status)


def _reconciled(store: PlanStore, status: PlanStatus) -> PlanStatus:
    """``status``, read again after counting images final but uncounted, if that ends the plan.

    Only for a plan that stood still (``fleet/state/reconcile.py`` scans Redis's keys).
    """
    from syncer.fleet.state.reconcile import idle, reconcile, unrecorded

    c = status.counters
    left = c["tags_total"] - c["tags_done"] - c["tags_skipped"] - c["tags_failed"]
    if status.finished or status.lost or c["rules_pending"] > 0 or left <= 0:
        return status
    after = defaults.FOLLOW_RECONCILE_AFTER
    if idle(store, status) < after or len(unrecorded(store.redis, status.plan, after)) < left:
        return status
    reconcile(store.redis, status.plan, after)
    return store.status(status.plan)


def cmd_cancel(args: argparse.Namespace) -> int:
    """``syncer cancel PLAN_ID``."""
    store = _store(args.redis)
    if not store.exists(args.plan_id):
        raise ConfigError(f"plan {args.plan_id!r} not found (expired, or another Redis?)")
    store.cancel(args.plan_id)
    print(f"cancelled {args.plan_id}")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """``syncer worker``: ``celery -A workers.app worker`` with sensible defaults, kept running."""
    checked_url(args.redis)  # a missing SYNCER_REDIS_URL_FILE fails here, in one line
    # The worker sizes its HTTP connection pools from this.
    env = dict(os.environ, SYNCER_WORKER_CONCURRENCY=str(args.proc))
    if args.redis:
        # The child reads SYNCER_REDIS_URL(_FILE) itself; a --redis URL goes by environment.
        env["SYNCER_REDIS_URL"] = args.redis
    auth = defaults.auth_file()
    if args.auth:
        auth = Path(os.path.abspath(args.auth))
        env["SYNCER_AUTH_FILE"] = str(auth)
    if args.metrics_port is not None:
        if not 0 < args.metrics_port < 65536:
            raise ConfigError(f"--metrics-port must be a TCP port, got {args.metrics_port}")
        env["SYNCER_METRICS_PORT"] = str(args.metrics_port)
    if args.metrics_addr:
        env["SYNCER_METRICS_ADDR"] = args.metrics_addr
    if auth is not None:
        # A worker that cannot read its credentials would say "ready" and then
        # fail every task: refuse to start instead, naming the file.
        _check_auth_file(auth)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--loglevel",
        args.loglevel,
        "--concurrency",
        str(args.proc),
        # Streaming is I/O bound: threads share one client pool and token cache.
        "--pool",
        "threads",
        "--without-gossip",
        "--without-mingle",
        "-E",
    ]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    from syncer.cli.supervise import supervise

    return supervise(argv, env)


def _check_auth_file(path: Path) -> None:
    """Raise :class:`ConfigError` unless the worker's auth file loads."""
    from syncer.config.files import load_auth

    try:
        load_auth(path)
    except ConfigError as exc:
        raise ConfigError(f"worker auth file (--auth / SYNCER_AUTH_FILE): {exc}") from None
