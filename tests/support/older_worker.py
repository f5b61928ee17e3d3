"""An older worker, for rolling-upgrade tests: ``celery -A tests.support.older_worker worker``.

The same code as ``workers.app``, knowing less, as a release from before
``syncer.copy_blobs`` and the verify tasks existed and before ``push_image``
bodies had version 1.
It lives with the tests, so no product setting can turn a worker into one.
"""

from __future__ import annotations

from syncer.fleet.protocol import messages, settings
from workers import tasks
from workers.app import app

app.tasks.unregister(settings.COPY_BLOBS)
app.tasks.unregister(settings.VERIFY_RULE)
app.tasks.unregister(settings.VERIFY_TAGS)
messages.PushImage.VERSION = 0

__all__ = ["app", "tasks"]
