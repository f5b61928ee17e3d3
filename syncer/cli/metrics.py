"""``syncer metrics``: serve the fleet's plan-level gauges for Prometheus."""

from __future__ import annotations

import argparse
import sys
import threading

from syncer import defaults
from syncer.cli.exits import EXIT_OK
from syncer.cli.redisargs import connect, redis_arg
from syncer.errors import ConfigError


def add_metrics_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syncer metrics``."""
    serve = sub.add_parser(
        "metrics",
        help="serve plan-level Prometheus gauges: queue depth, recent plans and their results",
    )
    redis_arg(serve)
    serve.add_argument(
        "--port",
        type=int,
        default=defaults.METRICS_PLAN_PORT,
        help=f"default {defaults.METRICS_PLAN_PORT}",
    )
    serve.add_argument(
        "--addr",
        default=defaults.metrics_addr(),
        help=f"bind address (default $SYNCER_METRICS_ADDR, else {defaults.METRICS_ADDR}; "
        "syncer's container image sets 0.0.0.0)",
    )
    serve.set_defaults(func=cmd_metrics)


def cmd_metrics(args: argparse.Namespace) -> int:
    """``syncer metrics``: serve ``/metrics`` until interrupted."""
    from prometheus_client import CollectorRegistry, start_http_server

    from syncer.fleet.state.gauges import PlanCollector

    registry = CollectorRegistry()
    registry.register(PlanCollector(connect(args.redis)))
    try:
        server, _ = start_http_server(args.port, addr=args.addr, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {args.addr}:{args.port}: {exc}") from None
    print(f"serving plan metrics on http://{args.addr}:{args.port}/metrics", file=sys.stderr)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return EXIT_OK
