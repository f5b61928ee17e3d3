"""One :class:`~syncer.fleet.steps.Fleet` per worker process, built on first use.

Credentials come from the worker's own auth file (``$SYNCER_AUTH_FILE``,
image-syncer's auth format, or a legacy config file) and docker's
``config.json``; they never travel through Redis or task arguments.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import redis

from syncer.config import load_auth
from syncer.credentials import Credentials
from syncer.fleet import settings
from syncer.fleet.broker import CeleryDispatcher
from syncer.fleet.locks import RedisThrottle
from syncer.fleet.steps import Fleet
from syncer.registry.pool import ClientPool
from workers.app import app

_lock = threading.Lock()
_fleet: tuple[int, Fleet] | None = None


def fleet() -> Fleet:
    """The process's fleet context (rebuilt after a fork)."""
    global _fleet
    with _lock:
        if _fleet is None or _fleet[0] != os.getpid():
            _fleet = (os.getpid(), _build())
        return _fleet[1]


def _build() -> Fleet:
    client = redis.Redis.from_url(settings.redis_url(), health_check_interval=30)
    auth_file = os.environ.get("SYNCER_AUTH_FILE")
    entries = load_auth(Path(auth_file)) if auth_file else {}
    limits = {k: e.max_connections for k, e in entries.items() if e.max_connections}
    # `syncer worker -p N` says N here; plain `celery worker -c N` does not, so
    # fall back to the configured default.
    concurrency = int(
        os.environ.get("SYNCER_WORKER_CONCURRENCY") or app.conf.worker_concurrency or 4
    )
    pool = ClientPool(Credentials(entries), pool_size=concurrency, throttle=RedisThrottle(client))
    return Fleet(client, pool, CeleryDispatcher(app), limits)
