"""syncer's one boundary with celery-redbeat: a schedule's timing entry, and the beat's settings.

redbeat keeps each entry (task, kwargs, timing, when it last ran) under
:func:`syncer.fleet.protocol.keys.redbeat_prefix` in the fleet's Redis, and
``syncer beat`` runs its scheduler. Several beats may start; redbeat's lock
lets one send while the others wait. An entry remembers when it last ran, so
a beat that was down for a day sends a missed schedule once, not once per
missed interval (Celery's ``is_due`` counts from the last run).

The CLI imports this module only for ``syncer schedule``; the engine never does.
"""

from __future__ import annotations

import datetime
from typing import Any

from celery.schedules import crontab
from celery.schedules import schedule as interval
from redbeat import RedBeatSchedulerEntry

from syncer import defaults
from syncer.errors import ConfigError
from syncer.fleet.broker import celery_app
from syncer.fleet.protocol import keys, redisclient, settings
from syncer.fleet.schedules import Schedule

#: A beat killed outright holds the lock this long (seconds) before another
#: takes over: six BEAT_MAX_INTERVALs, so a live beat, which renews it every
#: loop, keeps it through a few slow loops.
BEAT_LOCK_TIMEOUT = 30
#: A cron tick not picked up by a worker within a minute, a cron schedule's
#: shortest period, is dropped: the next tick replaces it.
CRON_EXPIRES = 60
#: Ticks go ahead of the copies waiting in the queue (0 is served first).
TICK_PRIORITY = 0


#: The scheduler class ``celery beat -S`` loads.
SCHEDULER = "redbeat.RedBeatScheduler"
_CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def beat_config(url: str) -> dict[str, Any]:
    """The Celery settings of redbeat, for the beat and for whoever writes its entries."""
    return {
        "redbeat_redis_url": url,
        # Stated, so redbeat neither borrows the broker's transport options nor
        # warns: the one client policy of fleet/protocol/redisclient.py.
        "redbeat_redis_options": redisclient.client_options(),
        "redbeat_key_prefix": keys.redbeat_prefix(),
        "redbeat_lock_timeout": BEAT_LOCK_TIMEOUT,
        "beat_max_loop_interval": defaults.BEAT_MAX_INTERVAL,
    }


def cron_timing(line: str) -> Any:
    """A five-field cron line (minute hour day-of-month month day-of-week) as Celery's crontab."""
    fields = line.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ConfigError(f"--cron {line!r}: give five fields: minute hour day month weekday")
    try:
        return crontab(**dict(zip(_CRON_FIELDS, fields, strict=True)))
    except ValueError as exc:
        raise ConfigError(f"--cron {line!r}: {exc}") from None


def timing(schedule: Schedule) -> Any:
    """The schedule's Celery timing: a crontab, or an interval of ``every`` seconds."""
    if schedule.cron:
        return cron_timing(schedule.cron)
    return interval(datetime.timedelta(seconds=schedule.every))


class BeatEntries:
    """The redbeat entries of syncer's schedules, on one Redis."""

    def __init__(self, url: str) -> None:
        self.app = celery_app(url)
        self.app.conf.update(beat_config(url))

    def _key(self, name: str) -> str:
        return keys.redbeat_prefix() + name

    def save(self, schedule: Schedule) -> None:
        """Create or update the entry (its last run is kept), enabled unless paused."""
        expires = schedule.every or CRON_EXPIRES
        entry = RedBeatSchedulerEntry(
            schedule.name,
            settings.RUN_SCHEDULE,
            timing(schedule),
            kwargs={"schedule": schedule.name},
            # A tick that waited longer than the period is stale: the next one replaces it.
            options={"priority": TICK_PRIORITY, "expires": expires},
            enabled=not schedule.paused,
            app=self.app,
        )
        entry.save()

    def delete(self, name: str) -> None:
        """Remove the entry; the beat stops sending it."""
        try:
            RedBeatSchedulerEntry.from_key(self._key(name), app=self.app).delete()
        except KeyError:
            pass  # never saved, or removed already: nothing to send

    def due_at(self, name: str) -> float | None:
        """When the beat sends the schedule next (epoch seconds), or None if it never will."""
        try:
            entry = RedBeatSchedulerEntry.from_key(self._key(name), app=self.app)
        except KeyError:
            return None
        due = entry.due_at if entry.enabled else None
        return due.timestamp() if due is not None else None
