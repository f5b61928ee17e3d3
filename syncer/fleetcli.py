"""``syncer plan``, ``status``, ``cancel`` and ``worker``: the distributed commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

from syncer import defaults
from syncer.errors import ConfigError, SyncerError
from syncer.fleet import settings
from syncer.progress import human_bytes, summary

if TYPE_CHECKING:  # redis is imported only by the commands that talk to it
    import redis

    from syncer.fleet.plans import PlanStatus, PlanStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: ``status --follow`` and ``plan --wait``: redraw every REDRAW s, look for the end every POLL s.
REDRAW, POLL = 0.5, 0.05


def add_parsers(sub: argparse._SubParsersAction, add_config_arguments: object) -> None:  # type: ignore[type-arg]
    """Register the distributed subcommands."""
    plan = sub.add_parser("plan", help="enqueue a config as Celery tasks for a worker fleet")
    add_config_arguments(plan)  # type: ignore[operator]
    _redis_arg(plan)
    plan.add_argument("--wait", action="store_true", help="follow progress; exit like sync")
    plan.add_argument(
        "--ttl",
        type=int,
        default=settings.PLAN_TTL,
        help="seconds to keep the plan's state in Redis (default 7 days)",
    )
    plan.add_argument("--output", choices=("text", "json"), default="text")
    plan.set_defaults(func=cmd_plan)

    status = sub.add_parser("status", help="show a plan's progress and report")
    status.add_argument("plan_id")
    _redis_arg(status)
    status.add_argument("--follow", "-f", action="store_true", help="redraw until finished")
    status.add_argument("--output", choices=("text", "json"), default="text")
    status.set_defaults(func=cmd_status)

    cancel = sub.add_parser(
        "cancel",
        help="cancel a plan: queued tasks are dropped, in-flight streams stop at the next chunk",
    )
    cancel.add_argument("plan_id")
    _redis_arg(cancel)
    cancel.set_defaults(func=cmd_cancel)

    worker = sub.add_parser("worker", help="run a Celery worker with syncer's defaults")
    _redis_arg(worker)
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
        help="concurrent tasks (default 5)",
    )
    worker.add_argument("-n", "--hostname", help="Celery node name")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=cmd_worker)


def _redis_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--redis",
        help="Redis URL (env SYNCER_REDIS_URL, or a file named by SYNCER_REDIS_URL_FILE; "
        f"default {settings.DEFAULT_REDIS_URL}); rediss:// and passwords work, "
        "but a password here shows in ps",
    )


def _store(url: str | None) -> PlanStore:
    from syncer.fleet.plans import PlanStore

    return PlanStore(connect(url))


def connect(url: str | None) -> redis.Redis:
    """A Redis client, checked with a PING; errors never echo the URL's password."""
    import redis

    url = settings.redis_url(url)
    try:
        client = redis.Redis.from_url(url)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise SyncerError(f"cannot reach Redis at {_safe_url(url)}: {type(exc).__name__}") from None
    return client


def _safe_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def cmd_plan(args: argparse.Namespace) -> int:
    """``syncer plan``."""
    from syncer import planner
    from syncer.cli import load, sync_options

    config = load(args)
    if args.dry_run:
        print(planner.preview(config).render())
        return EXIT_OK
    from syncer.fleet.broker import CeleryDispatcher, celery_app
    from syncer.fleet.plans import PlanStore

    client = connect(args.redis)
    app = celery_app(settings.redis_url(args.redis))
    source = str(args.config or args.config_file or args.images)
    plan = planner.submit(
        config,
        sync_options(args),
        client,
        CeleryDispatcher(app),
        source=source,
        ttl=args.ttl,
    )
    if args.output == "text" or not args.wait:
        print(plan, flush=True)
    else:
        print(f"plan {plan}", file=sys.stderr, flush=True)
    if not args.wait:
        return EXIT_OK
    return follow(PlanStore(client), plan, args.output, sys.stderr)


def cmd_status(args: argparse.Namespace) -> int:
    """``syncer status PLAN_ID``."""
    store = _store(args.redis)
    if not store.exists(args.plan_id):
        raise ConfigError(f"plan {args.plan_id!r} not found (expired, or another Redis?)")
    if args.follow:
        return follow(store, args.plan_id, args.output, sys.stderr)
    status = store.status(args.plan_id)
    if not status.finished:
        print(render(status))
        return EXIT_OK
    if status.cancelled:
        print(f"plan {args.plan_id} was cancelled", file=sys.stderr)
    _print_final(status, args.output)
    return _exit(status)


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
    settings.redis_url(args.redis)  # a missing SYNCER_REDIS_URL_FILE fails here, in one line
    # The worker sizes its HTTP connection pools from this.
    env = dict(os.environ, SYNCER_WORKER_CONCURRENCY=str(args.proc))
    if args.redis:
        # The child reads SYNCER_REDIS_URL(_FILE) itself; a --redis URL goes by environment.
        env["SYNCER_REDIS_URL"] = args.redis
    if args.auth:
        env["SYNCER_AUTH_FILE"] = os.path.abspath(args.auth)
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
    from syncer.supervise import supervise

    return supervise(argv, env)


def _bar(done: int, total: int, width: int = 24) -> str:
    frac = min(1.0, done / total) if total else 0.0
    filled = int(frac * width)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {frac * 100:5.1f}%"


def render(status: PlanStatus, rate: float | None = None) -> str:
    """Three progress bars (bytes, blobs, tags) with rate and ETA."""
    c = status.counters
    elapsed = max(status.stats().elapsed, 1e-6)
    rate = c["bytes_done"] / elapsed if rate is None else rate
    left = max(c["bytes_total"] - c["bytes_done"] - c["bytes_skipped"], 0)
    eta = f"{left / rate:.0f}s" if rate > 0 and left else ("0s" if not left else "?")
    blobs = c["blobs_done"] + c["blobs_skipped"] + c["blobs_failed"]
    tags = c["tags_done"] + c["tags_skipped"] + c["tags_failed"]
    return "\n".join(
        [
            f"plan {status.plan}: {status.state}",
            f"bytes {_bar(c['bytes_done'] + c['bytes_skipped'], c['bytes_total'])} "
            f"{human_bytes(c['bytes_done'])}/{human_bytes(c['bytes_total'])} "
            f"{human_bytes(rate)}/s eta {eta}",
            f"blobs {_bar(blobs, c['blobs_total'])} {blobs}/{c['blobs_total']} "
            f"({c['blobs_mounted']} mounted, {c['blobs_failed']} failed)",
            f"tags  {_bar(tags, c['tags_total'])} {tags}/{c['tags_total']} "
            f"({c['tags_skipped']} unchanged, {c['tags_failed']} failed)",
        ]
    )


def report(status: PlanStatus) -> dict[str, object]:
    """The machine-readable report of a plan."""
    return {
        "plan": status.plan,
        "state": status.state,
        "counters": status.counters,
        **status.stats().report(),
    }


def follow(store: PlanStore, plan: str, output: str, stream: TextIO) -> int:
    """Redraw progress until the plan finishes; print the report; exit like sync."""
    tty = stream.isatty()
    last: tuple[float, int] | None = None
    while True:
        status = store.status(plan)
        if tty:
            now, done = time.monotonic(), status.counters["bytes_done"]
            rate = (done - last[1]) / (now - last[0]) if last and now > last[0] else None
            last = (now, done)
            stream.write("\033[4A\033[J" if rate is not None else "")
            stream.write(render(status, rate) + "\n")
            stream.flush()
        if status.finished:
            break
        _wait_for_end(store, plan, REDRAW)
    if status.cancelled:
        print(f"plan {plan} was cancelled", file=sys.stderr)
    _print_final(store.status(plan), output)
    return _exit(store.status(plan))


def _wait_for_end(store: PlanStore, plan: str, seconds: float) -> None:
    """Poll the counters until the plan ends or ``seconds`` pass.

    The full status (every image result) is read once per redraw; the end is
    noticed within :data:`POLL`, so ``plan --wait`` returns promptly.
    """
    deadline = time.monotonic() + seconds
    while not store.finished(plan) and time.monotonic() < deadline:
        time.sleep(POLL)


def _print_final(status: PlanStatus, output: str) -> None:
    if output == "json":
        print(json.dumps(report(status), indent=2))
    else:
        print(summary(status.stats()))


def _exit(status: PlanStatus) -> int:
    return EXIT_FAILED if status.counters["tags_failed"] or status.cancelled else EXIT_OK
