"""The visibility step re-stamps held deliveries, and goes on through a Redis outage."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from syncer.errors import StateError
from workers import context, visibility


def test_restamping_survives_redis_and_state_errors(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[Exception] = [redis.ConnectionError("refused"), StateError("auth gone")]
    stamped: list[list[str]] = []
    done = threading.Event()

    def keep_held(client: Any, tags: list[str]) -> int:
        if errors:
            raise errors.pop(0)
        stamped.append(tags)
        done.set()
        return len(tags)

    monkeypatch.setattr(visibility.settings, "visibility_refresh", lambda: 0.01)
    monkeypatch.setattr(context, "fleet", lambda: SimpleNamespace(redis=None))
    monkeypatch.setattr(visibility, "keep_held", keep_held)
    monkeypatch.setattr(visibility, "held_tags", lambda: ["tag-1", "tag-2"])
    caplog.set_level(logging.WARNING, logger="workers.visibility")

    step = visibility.VisibilityStep(parent=None)
    step.start(None)
    try:
        assert done.wait(5), "the thread died on a failed re-stamp"
    finally:
        step.stop(None)
    assert stamped[0] == ["tag-1", "tag-2"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all("could not re-stamp held tasks" in w for w in warnings)
