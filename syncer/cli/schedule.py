"""``syncer schedule add|list|remove|run|pause|resume`` and ``syncer beat``.

``schedule add`` loads the images file (and ``--auth``, for connection limits
and the same credential check as ``syncer plan``), then stores the rules and
options in Redis; credentials are never stored. Bad input is one line naming
what is wrong, exit 2, and nothing stored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from syncer import defaults
from syncer.cli.exits import EXIT_FAILED, EXIT_OK
from syncer.cli.fleet import preflight
from syncer.cli.history import print_table, when
from syncer.cli.redisargs import checked_url, connect, redis_arg
from syncer.errors import ConfigError

#: ``syncer beat --schedules FILE`` looks at the file, and at the schedules
#: Redis holds, this often (seconds): an edit, or a Redis that lost them, is
#: put right this soon.
BEAT_RECONCILE_EVERY = 5.0


def add_schedule_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syncer schedule ...`` and ``syncer beat``."""
    schedule = sub.add_parser("schedule", help="plan an images file again and again on the fleet")
    verbs = schedule.add_subparsers(dest="verb", required=True)
    _add_add(verbs)
    listing = verbs.add_parser("list", help="every schedule: last run and plan, skips, next run")
    listing.add_argument(
        "--output", choices=("text", "json"), default="text", help="table or JSON on stdout"
    )
    redis_arg(listing)
    listing.set_defaults(func=cmd_list)
    for verb, func, what in (
        ("remove", cmd_remove, "delete a schedule (its plans keep their own TTL)"),
        ("run", cmd_run, "plan a schedule now (paused or not), unless its last plan still runs"),
        ("pause", cmd_pause, "stop the beat from planning a schedule"),
        ("resume", cmd_resume, "let the beat plan a paused schedule again"),
    ):
        p = verbs.add_parser(verb, help=what)
        p.add_argument("name", help="the schedule's name")
        redis_arg(p)
        p.set_defaults(func=func)

    beat = sub.add_parser("beat", help="turn due schedules into plans (one beat runs at a time)")
    redis_arg(beat)
    beat.add_argument(
        "--schedules",
        type=Path,
        metavar="FILE",
        help="a schedules file (YAML or JSON) kept in Redis: applied at start and whenever "
        "the file, or what Redis holds, changes",
    )
    beat.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    beat.set_defaults(func=cmd_beat)


def _add_add(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add = verbs.add_parser("add", help="store a schedule: an images file planned on a timer")
    add.add_argument("name", help="a name: 1-63 of a-z, 0-9, '.', '_', '-'")
    add.add_argument("--images", type=Path, required=True, help="images rule file (JSON or YAML)")
    add.add_argument(
        "--auth", type=Path, help="auth file: limits and the credential check; never stored"
    )
    when_ = add.add_mutually_exclusive_group(required=True)
    when_.add_argument("--every", help="plan every DURATION: 30s, 15m, 2h, 1d")
    when_.add_argument("--cron", help='plan on a cron line (UTC), e.g. "0 */2 * * *"')
    add.add_argument("--registry", help="default destination registry (env DEFAULT_REGISTRY)")
    add.add_argument("--namespace", help="default destination namespace (env DEFAULT_NAMESPACE)")
    add.add_argument("--os", action="append", default=[], help="only these OSes (as plan)")
    add.add_argument("--arch", action="append", default=[], help="only these architectures")
    add.add_argument("--force", action="store_true", help="push manifests even when unchanged")
    add.add_argument(
        "--ttl", type=int, default=defaults.PLAN_TTL, help="seconds each plan's state is kept"
    )
    add.add_argument(
        "--no-credential-check",
        action="store_true",
        help="only warn when no live worker holds credentials the auth file has",
    )
    redis_arg(add)
    # What syncer.cli.args.load and sync_options read, for the flags `add` does not take.
    add.set_defaults(
        func=cmd_add, config=None, config_file=None, proc=defaults.PROC, retries=defaults.RETRIES
    )


def _entries(args: argparse.Namespace) -> Any:
    from syncer.fleet.beat import BeatEntries

    return BeatEntries(defaults.redis_url(args.redis))


def _store(client: Any) -> Any:
    from syncer.fleet.schedules import ScheduleStore

    return ScheduleStore(client)


def cmd_add(args: argparse.Namespace) -> int:
    """``syncer schedule add``: everything is checked before anything is stored."""
    from syncer.cli.args import load, refuse_layouts, sync_options
    from syncer.fleet.beat import cron_timing
    from syncer.fleet.schedules import Schedule, check_name, parse_every

    name = check_name(args.name)
    every = parse_every(args.every) if args.every else 0
    cron = " ".join(args.cron.split()) if args.cron else ""
    if cron:
        cron_timing(cron)
    if args.ttl < 1:
        raise ConfigError(f"--ttl {args.ttl}: give a number of seconds of at least 1")
    config = load(args)
    refuse_layouts(config)
    if config.broken:
        more = f" (and {len(config.broken) - 1} more)" if len(config.broken) > 1 else ""
        raise ConfigError(config.broken[0].reason + more)
    if not config.rules:
        raise ConfigError(f"{args.images}: no images to schedule")
    options = sync_options(args)
    client = connect(args.redis)
    preflight(config, client, args.no_credential_check)
    schedule = Schedule(
        name,
        config.rules,
        every=every,
        cron=cron,
        limits=dict(config.limits),
        force=options.force,
        platforms=options.platforms,
        ttl=args.ttl,
        source=str(args.images),
    )
    store = _store(client)
    store.add(schedule)
    try:
        _entries(args).save(schedule)
    except Exception:
        store.remove(name)  # the beat would never send it: store nothing
        raise
    print(f"schedule {name}: {schedule.timing}, {len(schedule.rules)} rule(s) from {args.images}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """``syncer schedule list``."""
    client = connect(args.redis)
    store, entries = _store(client), _entries(args)
    rows: list[dict[str, Any]] = []
    for schedule in store.all():
        runs = store.runs(schedule.name)
        result = _last_result(client, runs.last_plan)
        rows.append(
            {
                "name": schedule.name,
                "timing": schedule.timing,
                "paused": schedule.paused,
                "next_run": None if schedule.paused else entries.due_at(schedule.name),
                "last_run": runs.last_run,
                "last_plan": runs.last_plan,
                "result": result,
                "runs": runs.runs,
                "skips": runs.skips,
                "last_skip": runs.last_skip,
                "lost": runs.lost,
                "last_lost": runs.last_lost,
                "lost_reason": runs.lost_reason,
                "rules": len(schedule.rules),
                "source": schedule.source,
            }
        )
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    head = ("NAME", "TIMING", "PAUSED", "NEXT RUN", "LAST RUN", "LAST PLAN", "RESULT", "SKIPS")
    table = [(*head, "LOST")]
    for r in rows:
        table.append(
            (
                r["name"],
                r["timing"],
                "yes" if r["paused"] else "no",
                when(r["next_run"]),
                when(r["last_run"]),
                r["last_plan"] or "-",
                r["result"] or "-",
                str(r["skips"]),
                str(r["lost"]),
            )
        )
    print_table(table)
    return EXIT_OK


def _last_result(client: Any, plan: str) -> str:
    """The last plan's result; ``lost`` when Redis lost it, ``expired`` when its TTL ran out."""
    from syncer.fleet.state.history import summary
    from syncer.fleet.state.liveness import why_missing

    if not plan:
        return ""
    last = summary(client, plan)
    if last is None:
        return "lost" if why_missing(client, plan) else "expired"
    return _result(last.to_dict())


def _result(row: dict[str, Any]) -> str:
    """``running``, ``lost``, or the finished plan's counts: ``3 synced, 1 unchanged, 0 failed``."""
    if row["state"] in ("running", "lost"):
        return str(row["state"])
    counts = f"{row['synced']} synced, {row['unchanged']} unchanged, {row['failed']} failed"
    return counts if row["state"] == "finished" else f"{row['state']}: {counts}"


def cmd_remove(args: argparse.Namespace) -> int:
    """``syncer schedule remove NAME``."""
    store = _store(connect(args.redis))
    store.get(args.name)  # not found: say so before touching anything
    _entries(args).delete(args.name)
    store.remove(args.name)
    print(f"removed schedule {args.name}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``syncer schedule run NAME``: plan now; exit 1 with the reason if it was skipped."""
    from syncer.fleet.broker import CeleryDispatcher, celery_app
    from syncer.fleet.schedules import start

    client = connect(args.redis)
    dispatcher = CeleryDispatcher(celery_app(defaults.redis_url(args.redis)))
    outcome = start(client, args.name, dispatcher, manual=True)
    if not outcome.plan:
        print(f"syncer: schedule {args.name} skipped: {outcome.skipped}", file=sys.stderr)
        return EXIT_FAILED
    print(outcome.plan)
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    """``syncer schedule pause NAME``."""
    return _set_paused(args, True)


def cmd_resume(args: argparse.Namespace) -> int:
    """``syncer schedule resume NAME``."""
    return _set_paused(args, False)


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    schedule = _store(connect(args.redis)).set_paused(args.name, paused)
    _entries(args).save(schedule)
    print(f"{'paused' if paused else 'resumed'} schedule {args.name}")
    return EXIT_OK


def cmd_beat(args: argparse.Namespace) -> int:
    """``syncer beat``: ``celery -A workers.beat beat`` with redbeat, kept running."""
    from syncer.cli.supervise import supervise
    from syncer.fleet.beat import SCHEDULER

    url = checked_url(args.redis)
    stop = threading.Event()
    if args.schedules:
        _keep_schedules(args, url, stop)
    env = dict(os.environ)
    if args.redis:
        env["SYNCER_REDIS_URL"] = args.redis  # the child reads it; argv would show it in ps
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.beat",
        "beat",
        "--scheduler",
        SCHEDULER,
        "--max-interval",
        str(defaults.BEAT_MAX_INTERVAL),
        "--loglevel",
        args.loglevel,
    ]
    try:
        return supervise(argv, env)
    finally:
        stop.set()


def _keep_schedules(args: argparse.Namespace, url: str, stop: threading.Event) -> None:
    """Apply the schedules file now (a bad one fails here, in one line), then keep it applied."""
    from syncer.fleet.schedulefile import Reconciler
    from syncer.fleet.state.guard import guard

    reconciler = Reconciler(connect(args.redis), args.schedules, url)
    reconciler.load()
    with guard("Redis, storing the schedules"):
        changes = reconciler.apply()
    names = ", ".join(changes) or "nothing to change"
    print(f"syncer: schedules from {args.schedules}: {names}", file=sys.stderr, flush=True)
    threading.Thread(
        target=reconciler.keep,
        args=(BEAT_RECONCILE_EVERY, stop),
        name="schedules",
        daemon=True,
    ).start()
