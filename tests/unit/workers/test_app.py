"""The workers' Celery app (workers.app): what it carries, and its log handlers."""

from __future__ import annotations

import logging

import pytest
import redis

from syncer.text import EscapeControls
from tests.support.celery_app import app_settings
from workers import app as app_module


def test_the_workers_app_requeues_unknown_tasks_and_never_holds_redbeats_url() -> None:
    conf = app_settings("workers.app")
    assert conf["redbeat"] is None, "Flower's worker page would show it, password and all"
    assert conf["consumer"] == "workers.upgrade:Consumer"
    assert conf["include"] == ["workers.tasks", "workers.scheduled"]
    assert conf["acks_late"] is True
    assert conf["steps"] == [
        "workers.heartbeat:HeartbeatStep",
        "workers.intake:IntakeStep",
        "workers.visibility:VisibilityStep",
    ]


def test_celerys_log_handlers_escape_control_characters() -> None:
    logger = logging.Logger("celery-test")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    app_module.escape_controls(logger)
    app_module.escape_controls(None)  # Celery may send no logger: nothing to do
    assert any(isinstance(f, EscapeControls) for f in handler.filters)


@pytest.mark.integration
def test_a_worker_warns_at_start_when_redis_may_evict(
    redis_server: str,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SYNCER_REDIS_URL", redis_server)
    app_module.check_redis()
    assert not caplog.records, "noeviction is not a risk"
    before = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    redis_client.config_set("maxmemory-policy", "volatile-lru")  # plan keys have TTLs
    try:
        app_module.check_redis()
    finally:
        redis_client.config_set("maxmemory-policy", before)
    [warning] = caplog.records
    assert warning.levelname == "WARNING" and "'volatile-lru'" in warning.getMessage()
