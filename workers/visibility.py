"""Keep the deliveries this worker holds invisible to the others while it lives.

kombu's Redis transport hands a task out again once it has gone unacknowledged
for the visibility timeout. Left at that, a short timeout would also re-deliver
a task a live worker is still running (a 30-minute stream), and a long one
leaves a lost worker's task stranded for as long. So the timeout is short
(:data:`syncer.fleet.defaults.VISIBILITY_TIMEOUT`) and a consumer bootstep
re-stamps, every :func:`~syncer.fleet.protocol.settings.visibility_refresh` seconds,
every delivery this worker holds: running, waiting for a slot, or held for a
countdown. When the worker dies its stamps stop, and about one timeout later
any live worker's sweep puts its tasks back on the queue. The in-flight lock
(:mod:`syncer.fleet.state.locks`) lapses sooner, and the upload session in Redis
(:mod:`syncer.fleet.state.uploads`) lets the new copy resume, not restart.

Why this rather than a long timeout and a reaper of blob copies whose lock
stopped beating: only ``copy_blob`` holds a lock, so a lost ``sync_tag``,
``push_image`` or ``expand_rule`` would still wait out the long timeout, and
re-publishing a task needs the message kombu already keeps. Here kombu's own
sweep reclaims every kind of task, and nothing is delivered twice while its
worker lives (no busy re-enqueues behind a live stream). Measured in
``tests/faults/test_lost_worker.py``: after ``kill -9`` mid-stream with the
defaults, a worker started afterwards resumed the upload 62 s after the kill
and the plan ended at 68 s; with a 3 s timeout and no re-stamp, an 18 s
stream's task was handed out again and its waiting copies added 13 deliveries.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import bootsteps
from celery.worker import state

from syncer.errors import SyncerError
from syncer.fleet.broker import keep_held
from syncer.fleet.protocol import settings
from syncer.fleet.state.guard import best_effort

log = logging.getLogger(__name__)


def held_tags() -> list[str]:
    """The delivery tags of every task this worker holds (reserved, scheduled or running)."""
    requests = tuple(state.requests.values())
    return [r.message.delivery_tag for r in requests if r.message is not None]


class VisibilityStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep: re-stamp this worker's deliveries while the consumer runs."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, c: Any) -> None:
        """Called by Celery once the task consumer runs (again after a reconnect)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)
            self._thread.start()

    def stop(self, c: Any) -> None:
        """Stop re-stamping: a warm shutdown hands back what it has not finished itself."""
        self._stop.set()

    def _run(self) -> None:
        from workers import context  # imports workers.app, which registers this step

        # A Redis outage longer than the timeout may re-deliver a task that
        # still runs: harmless (the in-flight lock), only slower.
        why = "a re-delivered task is only slower"
        while not self._stop.wait(settings.visibility_refresh()):
            with best_effort(why, SyncerError) as attempt:
                keep_held(context.fleet().redis, held_tags())
            if attempt.failed:
                log.warning("could not re-stamp held tasks: %s", attempt.error)
