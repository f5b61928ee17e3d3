"""Celery settings and task names, as plain data shared by the planner and the workers.

Task names are the contract between them: the planner sends by name and never
imports worker code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from syncer import defaults
from syncer.fleet.protocol import keys, redisclient

#: Seconds kombu's lock on its sweep for abandoned messages lives (its default,
#: 300, let one killed worker stop every sweep for five minutes).
UNACKED_SWEEP_LOCK = 5


EXPAND_RULE = "syncer.expand_rule"
SYNC_TAG = "syncer.sync_tag"
SYNC_TAGS = "syncer.sync_tags"
COPY_BLOB = "syncer.copy_blob"
COPY_BLOBS = "syncer.copy_blobs"
PUSH_IMAGE = "syncer.push_image"
ENQUEUE_TAGS = "syncer.enqueue_tags"
VERIFY_RULE = "syncer.verify_rule"
VERIFY_TAGS = "syncer.verify_tags"
#: The task the beat sends; a worker runs :func:`syncer.fleet.schedules.start` for it.
RUN_SCHEDULE = "syncer.run_schedule"

#: The broker transport class Celery loads by name.
BROKER_TRANSPORT = "syncer.fleet.broker:Transport"

#: Priority levels: big blobs go first (kombu's Redis transport: 0 is served first).
PRIORITY_STEPS = list(range(10))


def redis_url_problem(url: str) -> str:
    """What is wrong with a Redis URL, in words an operator can act on; "" if nothing."""
    example = "use redis://host:6379/0"
    if "://" not in url:
        return f"URL has no scheme: {example} (or rediss:// for TLS, unix:///path.sock)"
    split = urlsplit(url)
    if split.scheme not in ("redis", "rediss", "unix"):
        return f"unknown scheme {split.scheme!r}: {example}, rediss://… or unix://…"
    if split.scheme == "unix":
        return "" if split.path else "unix:// URL has no socket path"
    if not split.hostname:
        return f"URL has no host: {example}"
    try:
        split.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return f"URL has an invalid port: {example}"
    db = split.path.strip("/")
    if db and not db.isdigit():
        return f"database must be a number, got {db!r}: {example}"
    return ""


def blob_priority(size: int) -> int:
    """0 for blobs of 1 GiB and more, up to 9 for tiny ones."""
    if size <= 0:
        return 9
    mib = size / (1 << 20)
    for level, floor in enumerate((1024, 256, 64, 16, 4, 1)):
        if mib >= floor:
            return level
    return 9


def visibility_refresh() -> float:
    """How often a worker re-stamps the deliveries it holds: a quarter of the timeout."""
    return max(0.5, defaults.visibility_timeout() / 4)


def lock_ttl() -> float:
    """Lifetime of an in-flight blob lock without heartbeats (its holder died).

    60 s, or a third of the visibility timeout when that is shorter, so a task
    redelivered after a crash does not then wait out the dead holder's lock.
    """
    return float(max(5, min(60, defaults.visibility_timeout() // 3)))


def celery_config(url: str) -> dict[str, Any]:
    """Every Celery setting syncer relies on, for both sides of the queue."""
    timeout = defaults.visibility_timeout()
    transport = {
        **redisclient.transport_options(),
        "visibility_timeout": timeout,
        "unacked_index_key": keys.unacked_index(),
        # Sweep for abandoned messages often enough to honour a short timeout.
        "unacked_restore_interval": max(1, min(10, timeout // 10)),
        "unacked_restore_throttle": 1,
        # kombu's sweep holds a Redis lock, 300 s by default: a worker killed
        # (or a Redis restarted from its AOF) while one sweep held it stopped
        # every worker restoring a dead worker's tasks for five minutes, and
        # a plan under kill -9 stood still that long. A sweep takes
        # milliseconds, and restores by WATCH transaction, so two that overlap
        # once the lock lapsed restore each message once.
        "unacked_mutex_expire": UNACKED_SWEEP_LOCK,
        "priority_steps": PRIORITY_STEPS,
        "sep": ":",
        "queue_order_strategy": "priority",
    }
    config: dict[str, Any] = {
        "broker_url": url,
        # kombu's Redis transport, sharing one client per pool (see broker.py).
        "broker_transport": BROKER_TRANSPORT,
        "result_backend": url,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": timeout},
        **redisclient.backend_settings(),
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": defaults.PLAN_TTL,
        "task_ignore_result": True,
        # Redelivery must be harmless: tasks check the destination first and key
        # their work by digest, so we acknowledge only once a task has finished.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_priority": 5,
        # Flower learns tasks from the workers' events; "sent" events from the
        # publisher would double the cost of every enqueue.
        "task_send_sent_event": False,
        "worker_send_task_events": True,
        "worker_concurrency": defaults.PROC,
        "task_track_started": True,
    }
    if urlsplit(url).scheme == "rediss" and "ssl_cert_reqs=" not in url:
        # Naming the transport class turns off kombu's own rediss:// handling,
        # which would fall back to unverified TLS here; verify by default.
        import ssl  # here: the CLI's parsers read this module, and ssl is slow to load

        config["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return config
