"""``syncer webhook``: plan the tags registries say were pushed (the server: :mod:`webhookserver`).

Tornado and the Prometheus client are imported only when the service starts.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from syncer import defaults
from syncer.cli.args import add_config_arguments, load, refuse_layouts, sync_options
from syncer.cli.exits import EXIT_OK
from syncer.cli.redisargs import connect, redis_arg
from syncer.errors import ConfigError

if TYPE_CHECKING:
    from syncer.cli.webhookserver import Service

log = logging.getLogger("syncer.webhook")

#: The shortest secret accepted: a guessable one would let anyone start plans.
MIN_SECRET = 16


def add_webhook_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syncer webhook``."""
    p = sub.add_parser(
        "webhook",
        help="serve registry push events and plan the pushed tags the rules select",
        description="Receive push events (distribution notifications, Harbor, Docker Hub, "
        'or {"repository": ..., "tag": ...}) and plan each pushed tag that a rule of the '
        "config selects. Needs SYNCER_WEBHOOK_SECRET (or _FILE).",
    )
    add_config_arguments(p)
    redis_arg(p)
    p.add_argument("--port", type=int, default=defaults.WEBHOOK_PORT, help="listen port")
    p.add_argument(
        "--addr",
        default=defaults.metrics_addr(),
        help="bind address (env SYNCER_METRICS_ADDR; default 127.0.0.1, 0.0.0.0 in a container)",
    )
    p.add_argument(
        "--coalesce",
        type=float,
        default=defaults.WEBHOOK_COALESCE,
        help="seconds to gather a burst of pushes into one plan "
        f"(default {defaults.WEBHOOK_COALESCE})",
    )
    p.set_defaults(func=cmd_webhook)


def cmd_webhook(args: argparse.Namespace) -> int:
    """``syncer webhook``: serve until SIGTERM or SIGINT."""
    from syncer.cli.webhookserver import Service
    from syncer.fleet import planner
    from syncer.fleet.broker import CeleryDispatcher, celery_app
    from syncer.fleet.onpush import Batcher, Watcher
    from syncer.fleet.state.plans import PlanStore

    secret = defaults.webhook_secret()
    if secret is None or len(secret) < MIN_SECRET:
        raise ConfigError(
            f"set SYNCER_WEBHOOK_SECRET (or SYNCER_WEBHOOK_SECRET_FILE) to at least "
            f"{MIN_SECRET} characters: every request must carry it"
        )
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be a TCP port, got {args.port}")
    if args.dry_run:
        raise ConfigError("webhook: --dry-run plans nothing to show; use plan --dry-run")
    config, options = load(args), sync_options(args)
    refuse_layouts(config)  # it plans for the fleet, which reads no OCI layouts
    client = connect(args.redis)
    dispatcher = CeleryDispatcher(celery_app(defaults.redis_url(args.redis)))
    store = PlanStore(client)
    holder: dict[str, Service] = {}

    def submit(narrowed: Any) -> str:
        return planner.submit(narrowed, options, client, dispatcher, source="webhook")

    def started(plan: str, firsts: list[float]) -> None:
        holder["service"].metrics.plans.inc()
        watcher.watch(plan, firsts)

    def done(plan: str, latencies: list[float]) -> None:
        status = store.status(plan, results=False)
        if status.counters["tags_failed"]:
            log.warning("plan %s: %d image(s) failed", plan, status.counters["tags_failed"])
            return
        for seconds in latencies:
            holder["service"].metrics.latency.observe(seconds)
        log.info("plan %s: synced %.2fs after the first push", plan, max(latencies, default=0))

    watcher = Watcher(store.finished, done)
    batcher = Batcher(config, submit, args.coalesce, started)
    service = holder["service"] = Service(config.rules, secret, batcher)
    batcher.start()
    watcher.start()
    import asyncio  # here: `syncer --version` builds this parser, and asyncio is slow to load

    try:
        asyncio.run(_serve_until_signalled(service, args.addr, args.port))
    finally:
        batcher.stop()
        watcher.stop()
    return EXIT_OK


async def _serve_until_signalled(service: Service, addr: str, port: int) -> None:
    import asyncio

    from syncer.cli.webhookserver import application, serve

    server = serve(application(service), addr, port)
    print(f"syncer webhook on http://{addr}:{port}/webhook", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.stop()
