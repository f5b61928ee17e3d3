"""Pausing this worker's intake of tasks while its link carries a large blob.

A worker streaming a large blob should leave small copies to hosts whose
links are idle. Handing them back to the queue does not work well on its own:
the busy worker's idle threads are the first to ask for the next message, so
a copy comes straight back (the bench saw 158 hand-offs for 133 batches). So
the worker stops consuming the shared queue while it streams a large blob and
some peer's link is idle, and starts again when its last large stream ends.

This is done in-process, not through Celery's remote control: a Consumer
bootstep keeps the consumer, and a task thread schedules
``cancel_task_queue``/``add_task_queue`` on the consumer's event loop
(kombu's ``Hub.call_soon`` is thread-safe). Messages the worker has already
reserved still run; :mod:`workers.links` hands those on. A pause never
outlives a stream: :func:`resume` runs in the stream's ``finally``, and
``add_task_queue`` is a no-op for a queue already consumed.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import bootsteps

_lock = threading.Lock()
_consumer: Any = None


class IntakeStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep that remembers the consumer, for :func:`pause` and :func:`resume`."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, c: Any) -> None:
        """Called by Celery once the task consumer runs (again after a reconnect)."""
        global _consumer
        with _lock:
            _consumer = c

    def shutdown(self, c: Any) -> None:
        """Called by Celery on shutdown: nothing to pause any more."""
        global _consumer
        with _lock:
            _consumer = None


def pause() -> bool:
    """Stop taking new tasks from the shared queue; False outside a running worker."""
    with _lock:
        c = _consumer
    if c is None:
        return False
    c.call_soon(c.cancel_task_queue, c.app.conf.task_default_queue)
    return True


def resume() -> None:
    """Take tasks from the shared queue again (harmless if never paused)."""
    with _lock:
        c = _consumer
    if c is not None:
        c.call_soon(c.add_task_queue, c.app.conf.task_default_queue)
