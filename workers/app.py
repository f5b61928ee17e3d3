"""The Celery app: ``celery -A workers.app worker``.

Settings come from :func:`syncer.fleet.settings.celery_config`; the broker and
result store is ``$SYNCER_REDIS_URL`` (default ``redis://localhost:6379/0``).
"""

from __future__ import annotations

from celery import Celery

from syncer.fleet import settings
from workers.heartbeat import HeartbeatStep
from workers.intake import IntakeStep
from workers.visibility import VisibilityStep

app = Celery("syncer", include=["workers.tasks"])
app.conf.update(settings.celery_config(settings.redis_url()))
app.steps["consumer"].add(IntakeStep)
app.steps["consumer"].add(HeartbeatStep)
app.steps["consumer"].add(VisibilityStep)
