"""The app ``syncer beat`` runs: :mod:`workers.app` plus celery-redbeat's settings.

Kept apart from :mod:`workers.app` so the workers' own settings never hold
``redbeat_redis_url``: Celery masks the broker and backend URLs it reports
(Flower's worker page shows them), but not this one, password and all.
"""

from __future__ import annotations

from syncer import defaults
from syncer.fleet.beat import beat_config
from workers.app import app

app.conf.update(beat_config(defaults.redis_url()))

__all__ = ["app"]
