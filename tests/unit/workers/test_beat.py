"""The beat's app (workers.beat): the workers' app plus redbeat, on the same Redis."""

from __future__ import annotations

from syncer.fleet.protocol import keys
from tests.support.celery_app import REDIS_URL, app_settings


def test_the_beats_app_adds_redbeat_on_the_same_redis() -> None:
    conf = app_settings("workers.beat")
    assert conf["redbeat"] == REDIS_URL
    assert conf["prefix"] == keys.redbeat_prefix()
    assert conf["consumer"] == "workers.upgrade:Consumer", "the workers' app, plus redbeat"
