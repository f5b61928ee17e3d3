"""``syncer probe worker|beat``: a container health check, answered from the fleet's Redis.

``probe worker`` exits 0 when a worker on this host (``celery@HOSTNAME``,
Celery's default node name, or ``--node``) wrote its heartbeat into the
roster within :data:`~syncer.defaults.ALIVE_WINDOW`: its consumer runs and it
reaches Redis. ``probe beat`` exits 0 while redbeat's lock is held, which the
sending beat renews every few seconds. Anything else, Redis away included,
exits 1 with one line saying why. The Kubernetes manifests run these as
liveness and readiness probes.
"""

from __future__ import annotations

import argparse
import socket
from typing import TYPE_CHECKING

from syncer import defaults
from syncer.cli.exits import EXIT_FAILED, EXIT_OK
from syncer.cli.redisargs import checked_url, redis_arg, safe_url
from syncer.errors import ConfigError
from syncer.fleet.protocol import keys

if TYPE_CHECKING:  # redis is imported only when a probe runs
    import redis


#: Seconds ``syncer probe`` waits for Redis to connect and to answer: well
#: inside a Kubernetes probe's own timeout, so a hung Redis fails with a reason.
PROBE_TIMEOUT = 5.0


def add_probe_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syncer probe``."""
    probe = sub.add_parser(
        "probe",
        help="health check for a container: exit 0 if this host's worker (or a beat) is "
        "alive in Redis, else 1 with the reason",
    )
    probe.add_argument("what", choices=("worker", "beat"), help="what to check")
    redis_arg(probe)
    probe.add_argument(
        "--node",
        help="the worker's node name (default: any worker named *@HOSTNAME, as Celery names it)",
    )
    probe.set_defaults(func=cmd_probe)


def _client(url: str | None) -> redis.Redis:
    import redis

    url = checked_url(url)
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=PROBE_TIMEOUT,
            socket_connect_timeout=PROBE_TIMEOUT,
        )
    except ValueError as exc:
        raise ConfigError(f"Redis URL {safe_url(url)}: {exc}") from None


def worker_alive(client: redis.Redis, node: str | None, host: str) -> str | None:
    """The node of a live worker that ``node`` (or ``*@host``) names, or None."""
    from syncer.fleet.state.roster import Roster

    for info in Roster(client).alive():
        if info.node == node or (node is None and info.node.endswith("@" + host)):
            return info.node
    return None


def cmd_probe(args: argparse.Namespace) -> int:
    """``syncer probe worker|beat``."""
    import redis

    client = _client(args.redis)
    try:
        if args.what == "beat":
            held = bool(client.exists(keys.redbeat_lock()))
            verdict = "a beat holds the schedule lock" if held else "no beat holds the lock"
            ok = held
        else:
            wanted = args.node or f"*@{socket.gethostname()}"
            found = worker_alive(client, args.node, socket.gethostname())
            ok = found is not None
            verdict = (
                f"worker {found} is alive"
                if found
                else f"no heartbeat from {wanted} in the last {defaults.ALIVE_WINDOW:.0f}s"
            )
    except redis.RedisError as exc:
        ok, verdict = False, f"cannot reach Redis: {type(exc).__name__}"
    finally:
        client.close()
    print(f"probe {args.what}: {verdict}")
    return EXIT_OK if ok else EXIT_FAILED
