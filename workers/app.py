"""The Celery app: ``celery -A workers.app worker``.

Settings come from :func:`syncer.fleet.protocol.settings.celery_config`; the broker and
result store is ``$SYNCER_REDIS_URL`` (default ``redis://localhost:6379/0``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_ready

from syncer import defaults
from syncer.fleet.protocol import redisclient, settings
from syncer.text import EscapeControls

log = logging.getLogger(__name__)

app = Celery("syncer", include=["workers.tasks", "workers.scheduled"])
app.conf.update(settings.celery_config(defaults.redis_url()))
# A task of a name this worker does not know goes back to the queue for a
# newer worker instead of being dropped (a rolling upgrade; see workers/upgrade.py).
app.conf.worker_consumer = "workers.upgrade:Consumer"
# By name, as Celery allows: the steps use the worker's fleet context, which
# uses this app, so importing them here would make an import cycle.
app.steps["consumer"].add("workers.intake:IntakeStep")
app.steps["consumer"].add("workers.heartbeat:HeartbeatStep")
app.steps["consumer"].add("workers.visibility:VisibilityStep")
app.steps["worker"].add("workers.metrics:MetricsStep")

_ESCAPE = EscapeControls()


def escape_controls(logger: logging.Logger | None = None, **kwargs: Any) -> None:
    """Celery's log handlers escape control characters (server text, task ids) in every record."""
    for handler in logger.handlers if logger is not None else ():
        handler.addFilter(_ESCAPE)


after_setup_logger.connect(escape_controls)
after_setup_task_logger.connect(escape_controls)


def check_redis(**kwargs: Any) -> None:
    """At start, warn when Redis may evict the fleet's keys (its ``maxmemory-policy``)."""
    client = redisclient.connect(defaults.redis_url())
    try:
        risk = redisclient.eviction_risk(client)
    finally:
        client.close()
    if risk:
        log.warning("%s", risk)


worker_ready.connect(check_redis)
