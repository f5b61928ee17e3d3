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
outlives a stream: :func:`resume` runs in the stream's ``finally``, and what
runs on the loop applies the latest wish, whatever order the loop runs it in.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import bootsteps

_lock = threading.Lock()
_consumer: Any = None
_paused = False


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
    return _want(paused=True)


def resume() -> None:
    """Take tasks from the shared queue again (harmless if never paused)."""
    _want(paused=False)


def _want(*, paused: bool) -> bool:
    global _paused
    with _lock:
        _paused = paused
        c = _consumer
    if c is None:
        return False
    # The hub runs callbacks in no set order, so each one applies whatever is
    # wanted when it runs: a pause and a resume queued together end resumed.
    c.call_soon(apply, c)
    return True


def apply(c: Any) -> None:
    """On the consumer's loop: consume the shared queue or not, as last asked."""
    queue = c.app.conf.task_default_queue
    with _lock:
        paused = _paused
    tasks = c.task_consumer
    if tasks is None:
        return  # reconnecting; the restarted consumer reads the selected queues
    consuming = tasks.consuming_from(queue)
    if paused and consuming:
        c.cancel_task_queue(queue)
    elif not paused and not consuming:
        c.add_task_queue(queue)
