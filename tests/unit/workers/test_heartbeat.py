"""The worker's heartbeat step: it beats while the consumer runs, and a missed beat is skipped."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from syncer import defaults
from syncer.errors import ConfigError
from syncer.fleet.state.roster import Roster
from tests.support.redis_away import stopped_redis
from workers import heartbeat

NODE = "celery@host1"


class FakeRoster:
    """Records beats; fails the first ``failures`` of them with ``error``."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.beats: list[tuple[str, tuple[str, ...]]] = []
        self.left: list[str] = []
        self.failures, self.error = failures, error
        self.enough = threading.Event()

    def beat(self, node: str, auth: tuple[str, ...]) -> None:
        if self.failures:
            self.failures -= 1
            assert self.error is not None
            raise self.error
        self.beats.append((node, tuple(auth)))
        if len(self.beats) >= 2:
            self.enough.set()

    def leave(self, node: str) -> None:
        self.left.append(node)


def _run(monkeypatch: pytest.MonkeyPatch, roster: object) -> heartbeat.HeartbeatStep:
    monkeypatch.setattr(defaults, "HEARTBEAT_EVERY", 0.01)
    monkeypatch.setattr(heartbeat, "_roster", lambda: roster)
    monkeypatch.setattr(heartbeat, "_auth_keys", lambda: ("quay.io",))
    step = heartbeat.HeartbeatStep(parent=None)
    step.start(SimpleNamespace(hostname=NODE))
    return step


@pytest.mark.parametrize("error", [redis.ConnectionError("refused"), ConfigError("auth file gone")])
def test_a_missed_beat_is_skipped_and_the_next_one_comes(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    roster = FakeRoster(failures=2, error=error)
    step = _run(monkeypatch, roster)
    try:
        assert roster.enough.wait(5), "the thread died on the first failure"
    finally:
        step.shutdown(None)
    assert roster.beats[0] == (NODE, ("quay.io",))
    assert roster.left == [NODE], "a clean shutdown leaves the roster"


def test_shutdown_with_redis_away_does_not_raise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with stopped_redis(tmp_path) as gone:
        step = _run(monkeypatch, Roster(gone))
        step.shutdown(None)  # the entry ages out of the roster instead
        assert step._thread is not None
        step._thread.join(5)
        assert not step._thread.is_alive(), "the beat thread stops after shutdown"
