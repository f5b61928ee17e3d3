"""This worker's heartbeat in the fleet's roster (see :mod:`syncer.fleet.state.roster`).

A consumer bootstep starts a daemon thread when the worker starts consuming,
and the thread writes the worker's node name and the keys of its auth file's
credentialed entries every few seconds. ``syncer plan`` checks credentials
against it before sending anything; ``plan --wait`` and ``status -f`` count
the workers in it. A heartbeat that cannot reach Redis is skipped: the
worker's tasks have their own policy for a Redis outage.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import bootsteps

from syncer import defaults
from syncer.errors import ConfigError
from syncer.fleet.state.guard import best_effort
from syncer.fleet.state.roster import Roster, credential_keys

log = logging.getLogger(__name__)


def _roster() -> Roster:
    # workers.context imports workers.app, which registers this step: import late.
    from workers import context

    return Roster(context.fleet().redis)


def _auth_keys() -> tuple[str, ...]:
    from workers import context

    try:
        return credential_keys(context.auth_entries())
    except ConfigError:
        return ()  # the auth file is gone or broken: tasks say so; hold no credentials


class HeartbeatStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep: beat while the consumer runs, leave the roster on a clean stop."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._node = ""

    def start(self, c: Any) -> None:
        """Called by Celery once the task consumer runs (again after a reconnect)."""
        self._node = str(c.hostname)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()

    def stop(self, c: Any) -> None:
        """Stop beating."""
        self._stop.set()

    def shutdown(self, c: Any) -> None:
        """Leave the roster, so the planner stops counting this worker at once."""
        self._stop.set()
        with best_effort("the entry ages out of the roster", ConfigError) as attempt:
            _roster().leave(self._node)
        if attempt.failed:
            log.debug("could not leave the roster: %s", attempt.error)

    def _run(self) -> None:
        while True:
            with best_effort("the next beat comes within the alive window", ConfigError) as attempt:
                _roster().beat(self._node, _auth_keys())
            if attempt.failed:
                log.debug("heartbeat skipped: %s", attempt.error)
            if self._stop.wait(defaults.HEARTBEAT_EVERY):
                return
