"""The beat's task: turn a due schedule into a plan (:func:`syncer.fleet.schedules.start`).

A tick whose schedule was removed meanwhile is dropped with a warning; a tick
that cannot reach Redis fails, and the next tick tries again. A redelivered
tick is harmless: the schedule's previous plan is running, so it is a skip.
"""

from __future__ import annotations

import logging

from celery import Task

from syncer.errors import ConfigError
from syncer.fleet import schedules
from syncer.fleet.protocol import settings
from syncer.fleet.state.guard import best_effort
from workers.app import app
from workers.context import fleet

log = logging.getLogger(__name__)


@app.task(name=settings.RUN_SCHEDULE, bind=True)
def run_schedule(self: Task, schedule: str) -> str:
    """Start the schedule's plan, or record a skip while its previous plan runs."""
    f = fleet()
    try:
        with best_effort("the schedule's next tick starts it") as attempt:
            outcome = schedules.start(f.redis, schedule, f.dispatch)
    except ConfigError as exc:
        log.warning("schedule tick %s dropped: %s", self.request.id, exc)
        return "dropped"
    if attempt.error is not None:
        log.warning("schedule %s not started: Redis: %s", schedule, type(attempt.error).__name__)
        return "failed"
    if outcome.plan:
        log.info("schedule %s started plan %s", schedule, outcome.plan)
    else:
        log.info("schedule %s %s: %s", schedule, outcome.word, outcome.skipped or "paused")
    return outcome.word
