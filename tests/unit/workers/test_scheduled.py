"""The beat's task (workers.scheduled.run_schedule): start, skip, drop, or fail for Redis."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis

from syncer.config.ruleparse import parse_rule
from syncer.fleet.protocol import settings
from syncer.fleet.schedules import Schedule, ScheduleStore
from tests.support.dispatch import Recorder, fleet_context
from tests.support.redis_away import stopped_redis
from workers import scheduled

pytestmark = pytest.mark.integration


def _use(monkeypatch: pytest.MonkeyPatch, client: redis.Redis) -> Recorder:
    sent = Recorder()
    monkeypatch.setattr(scheduled, "fleet", lambda: fleet_context(client, sent))
    return sent


def _add(client: redis.Redis, **fields: object) -> None:
    rule = parse_rule("src.example/lab/a:v1", "dst.example/mirror/a", environ={})
    ScheduleStore(client).add(Schedule("nightly", (rule,), every=60, **fields))  # type: ignore[arg-type]


def test_a_due_schedule_starts_a_plan_then_skips_while_it_runs(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _use(monkeypatch, redis_client)
    _add(redis_client)
    assert scheduled.run_schedule("nightly") == "started"
    assert sent.names == [settings.SYNC_TAGS]
    assert scheduled.run_schedule("nightly") == "skipped", "a redelivered tick is harmless"
    assert sent.names == [settings.SYNC_TAGS]


def test_a_paused_schedule_sends_nothing(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _use(monkeypatch, redis_client)
    _add(redis_client, paused=True)
    assert scheduled.run_schedule("nightly") == "paused"
    assert sent.sent == []


def test_a_tick_of_a_removed_schedule_is_dropped_with_a_warning(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _use(monkeypatch, redis_client)
    with caplog.at_level(logging.WARNING, logger="workers.scheduled"):
        assert scheduled.run_schedule("gone") == "dropped"
    assert "schedule tick" in caplog.text and "dropped" in caplog.text


def test_a_tick_that_cannot_reach_redis_fails_without_raising(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with stopped_redis(tmp_path) as client:
        _use(monkeypatch, client)
        with caplog.at_level(logging.WARNING, logger="workers.scheduled"):
            assert scheduled.run_schedule("nightly") == "failed"
    assert "schedule nightly not started: Redis: ConnectionError" in caplog.text
