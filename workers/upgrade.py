"""Rolling upgrades: a task this worker is too old for goes back to the queue, never away.

Celery's own answer to a task name a worker does not know is to log an
error and acknowledge the message: the task is gone (that is how
``syncer.copy_blobs`` went missing while a fleet was being upgraded). Here a
task of an unknown name (:class:`Consumer`), or a message whose schema
version is newer than this worker's (:func:`require_version`, called by the
task decorator), is held for :data:`REQUEUE_DELAY` seconds and then put back
at the end of the queue for a newer worker.

The hold is what keeps a fleet of only old workers from spinning: each of
them takes such a message at most once per :data:`REQUEUE_DELAY`, and it
stays queued until a newer worker runs it. It is far shorter than the
visibility timeout, so the broker does not hand the held message out twice.
Each (task, version) is logged once per worker process, not once per
redelivery (Celery's own warning for each requeue is left out).

The hold is not a whole number of seconds. kombu's consumers wait on the
queue with a ``BRPOP`` that times out and is sent again every second, and
Redis hands a message to the client that has waited longest: after a hold
of exactly 5 s the holder's own wait was always the oldest, and an old
worker took the same message back again and again while a new one idled
beside it. A random fraction of a second gives every waiting peer its chance.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from celery import Task
from celery.exceptions import Reject
from celery.worker.consumer import Consumer as CeleryConsumer

from syncer.errors import MessageError
from syncer.fleet.protocol.messages import Message, body_version

log = logging.getLogger(__name__)


#: Seconds a worker holds a task it is too old for before requeueing it for a
#: newer worker, so old workers do not pass it between them in a tight loop.
REQUEUE_DELAY = 5.0


_noted: set[tuple[str, int]] = set()
_noted_lock = threading.Lock()
#: Marks the rejects of :func:`require_version`, to keep Celery from logging each one.
_TOO_NEW = "is too new for this worker"


class _QuietRequeues(logging.Filter):
    """Drops Celery's warning (with traceback) for each requeue of a too-new message."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, Mapping) and _TOO_NEW in str(args.get("exc", "")))


logging.getLogger("celery.app.trace").addFilter(_QuietRequeues())


def hold() -> float:
    """How long to hold a task before requeueing it: ``REQUEUE_DELAY`` and a random fraction."""
    return REQUEUE_DELAY + random.random()  # spreads the requeues; no secret here


def note_once(name: str, version: int, why: str) -> None:
    """Log that tasks ``name`` (of ``version``; 0 for any) are requeued, once per process."""
    with _noted_lock:
        if (name, version) in _noted:
            return
        _noted.add((name, version))
    log.warning(
        "requeueing %s tasks for a newer worker: %s (logged once; upgrade this worker)",
        name,
        why,
    )


def require_version(task: Task, message: type[Message], body: Mapping[str, Any]) -> None:
    """Requeue (after a :func:`hold`) a body newer than ``message`` understands."""
    try:
        version = body_version(body)
    except MessageError:
        return  # malformed: decoding fails it with the reason
    if version <= message.VERSION:
        return
    note_once(task.name, version, f"message version {version}, this worker reads {message.VERSION}")
    delay = hold()
    log.debug("requeueing %s[%s] in %.1fs", task.name, task.request.id, delay)
    time.sleep(delay)
    raise Reject(f"{task.name}: message version {version} {_TOO_NEW}", requeue=True)


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer, but a task of an unknown name is requeued instead of dropped."""

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        """Hold the message for a while (:func:`hold`), then put it back on its queue."""
        headers = message.headers or {}
        name = str(headers.get("task", "")) or "(unnamed)"
        note_once(name, 0, "this worker does not know the task name")
        delay = hold()
        log.debug("requeueing %s[%s] in %.1fs", name, headers.get("id", ""), delay)
        # On the consumer's loop, as every acknowledgement is; the message
        # counts against this worker's prefetch until then, which is the point.
        self.timer.call_after(delay, message.reject_log_error, (log, self.connection_errors, True))
