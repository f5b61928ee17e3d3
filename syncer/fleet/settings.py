"""Celery settings and task names, as plain data shared by the planner and the workers.

Task names are the contract between them: the planner sends by name and never
imports worker code.
"""

from __future__ import annotations

import os
import ssl
from typing import Any
from urllib.parse import urlsplit

from syncer import defaults
from syncer.errors import ConfigError
from syncer.fleet import keys

EXPAND_RULE = "syncer.expand_rule"
SYNC_TAG = "syncer.sync_tag"
COPY_BLOB = "syncer.copy_blob"
COPY_BLOBS = "syncer.copy_blobs"
PUSH_IMAGE = "syncer.push_image"
ENQUEUE_TAGS = "syncer.enqueue_tags"
#: The task the beat sends; a worker runs :func:`syncer.fleet.schedules.start` for it.
RUN_SCHEDULE = "syncer.run_schedule"

#: The broker transport class Celery loads by name.
BROKER_TRANSPORT = "syncer.fleet.broker:Transport"

#: An image's blobs of at most BATCH_BLOB bytes, up to BATCH_BYTES per image,
#: are copied by one ``copy_blobs`` task rather than a ``copy_blob`` task each:
#: a task costs several Redis round trips and events, about as much CPU as
#: copying a 1 MiB blob on a fast link. Batches run after every waiting
#: ``sync_tag`` (BATCH_PRIORITY), so large blobs are found and started first.
#: ``$SYNCER_BATCH_BLOB`` overrides the size; 0 gives every blob its own task.
BATCH_BLOB = 4 << 20
BATCH_BYTES = 16 << 20
#: At most this many blobs in one batch (an index of many tiny images).
BATCH_COUNT = 50
BATCH_PRIORITY = 8

#: A fan-out larger than this is split into ``enqueue_tags`` tasks of this many
#: images, so several workers publish a 50k-tag repository in parallel.
FANOUT_CHUNK = 250

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
#: Plans, their counters and reports expire this long after their last update.
PLAN_TTL = 7 * 24 * 3600
#: A task handed out this long ago and not acknowledged goes back to the queue
#: (kombu's visibility timeout), unless its worker has said since that it still
#: holds it: every worker re-stamps the deliveries it holds every
#: :func:`visibility_refresh` seconds (``workers/visibility.py``). So a live
#: worker keeps a 30-minute stream to itself, and the task of a worker lost to
#: ``kill -9``, an OOM kill or a reboot runs elsewhere about a minute later.
VISIBILITY_TIMEOUT = 60
#: Priority levels: big blobs go first (kombu's Redis transport: 0 is served first).
PRIORITY_STEPS = list(range(10))


def redis_url(explicit: str | None = None) -> str:
    """``--redis``, else ``$SYNCER_REDIS_URL``, else ``$SYNCER_REDIS_URL_FILE``, else the default.

    A password in ``--redis`` shows in ``ps``; the file keeps it out of the
    process table and the environment (a mounted secret, mode 0600).
    """
    url = explicit or os.environ.get("SYNCER_REDIS_URL")
    if url:
        return url
    path = os.environ.get("SYNCER_REDIS_URL_FILE")
    if not path:
        return DEFAULT_REDIS_URL
    try:
        with open(path, encoding="utf-8") as f:
            url = f.read(4096).strip()
    except OSError as exc:
        raise ConfigError(f"SYNCER_REDIS_URL_FILE {path}: {exc.strerror}") from None
    if not url:
        raise ConfigError(f"SYNCER_REDIS_URL_FILE {path}: empty")
    return url


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


def batch_blob() -> int:
    """``$SYNCER_BATCH_BLOB`` or :data:`BATCH_BLOB`: the largest blob sent in a batch."""
    return int(os.environ.get("SYNCER_BATCH_BLOB") or BATCH_BLOB)


def visibility_timeout() -> int:
    """``$SYNCER_VISIBILITY_TIMEOUT`` or :data:`VISIBILITY_TIMEOUT`.

    A task whose worker died outright (``kill -9`` of the whole process) is
    handed to another worker once this has passed since the dead worker last
    re-stamped it. A task redelivered anyway (clocks apart by more than this)
    is harmless: the in-flight lock makes it wait, the destination check makes
    it a no-op.
    """
    return int(os.environ.get("SYNCER_VISIBILITY_TIMEOUT") or VISIBILITY_TIMEOUT)


def visibility_refresh() -> float:
    """How often a worker re-stamps the deliveries it holds: a quarter of the timeout."""
    return max(0.5, visibility_timeout() / 4)


def lock_ttl() -> float:
    """Lifetime of an in-flight blob lock without heartbeats (its holder died).

    60 s, or a third of the visibility timeout when that is shorter, so a task
    redelivered after a crash does not then wait out the dead holder's lock.
    """
    return float(max(5, min(60, visibility_timeout() // 3)))


def celery_config(url: str) -> dict[str, Any]:
    """Every Celery setting syncer relies on, for both sides of the queue."""
    timeout = visibility_timeout()
    transport = {
        "visibility_timeout": timeout,
        "unacked_index_key": keys.unacked_index(),
        # Sweep for abandoned messages often enough to honour a short timeout.
        "unacked_restore_interval": max(1, min(10, timeout // 10)),
        "unacked_restore_throttle": 1,
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
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": PLAN_TTL,
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
        config["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return config
