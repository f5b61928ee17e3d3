"""A worker too old for a task requeues it after a hold, logging once; it never drops it."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import Reject

from syncer.fleet.protocol.messages import PushImage
from workers import upgrade
from workers.upgrade import REQUEUE_DELAY

BODY = {"plan": "p", "image": "i"}


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """No real hold, and nothing logged yet in this process; returns the holds asked for."""
    slept: list[float] = []
    monkeypatch.setattr(upgrade.time, "sleep", slept.append)
    monkeypatch.setattr(upgrade, "_noted", set())
    return slept


def _task(name: str = "syncer.push_image") -> Any:
    return SimpleNamespace(name=name, request=SimpleNamespace(id="t-1"))


def test_a_body_this_worker_reads_runs(_fresh: list[float]) -> None:
    upgrade.require_version(_task(), PushImage, BODY)
    upgrade.require_version(_task(), PushImage, {**BODY, "v": 1})
    assert _fresh == []


def test_a_newer_body_is_requeued_after_a_hold_and_logged_once(
    _fresh: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=upgrade.__name__)
    for _ in range(3):
        with pytest.raises(Reject) as rejected:
            upgrade.require_version(_task(), PushImage, {**BODY, "v": 2})
        assert rejected.value.requeue is True

    assert len(_fresh) == 3, "held every time: no hot spin"
    assert all(REQUEUE_DELAY <= held < REQUEUE_DELAY + 1 for held in _fresh)
    [record] = caplog.records
    assert "syncer.push_image" in record.getMessage() and "version 2" in record.getMessage()


def test_a_malformed_version_is_left_to_decoding(_fresh: list[float]) -> None:
    upgrade.require_version(_task(), PushImage, {**BODY, "v": "2"})
    assert _fresh == []


class FakeTimer:
    def __init__(self) -> None:
        self.calls: list[tuple[float, Any, tuple[Any, ...]]] = []

    def call_after(self, secs: float, fun: Any, args: tuple[Any, ...] = ()) -> None:
        self.calls.append((secs, fun, args))


class FakeMessage:
    def __init__(self) -> None:
        self.headers = {"task": "syncer.copy_blobs", "id": "t-9"}
        self.rejected: list[bool] = []

    def reject_log_error(self, logger: Any, errors: Any, requeue: bool = False) -> None:
        self.rejected.append(requeue)


def test_an_unknown_task_name_is_requeued_later_not_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=upgrade.__name__)
    consumer = upgrade.Consumer.__new__(upgrade.Consumer)
    consumer.timer, consumer.connection_errors = FakeTimer(), ()
    messages = [FakeMessage(), FakeMessage()]

    for message in messages:
        consumer.on_unknown_task(None, message, KeyError("syncer.copy_blobs"))
        assert message.rejected == [], "nothing happens to the message at once"

    for secs, fun, args in consumer.timer.calls:
        assert REQUEUE_DELAY <= secs < REQUEUE_DELAY + 1
        fun(*args)
    assert [m.rejected for m in messages] == [[True], [True]], "requeued, not dropped"
    assert len(caplog.records) == 1 and "syncer.copy_blobs" in caplog.records[0].getMessage()


def test_celery_does_not_log_each_requeue_of_a_too_new_message() -> None:
    trace = logging.getLogger("celery.app.trace")
    ours = Reject(f"syncer.push_image: message version 2 {upgrade._TOO_NEW}", requeue=True)
    other = Reject("syncer.copy_blob: retry not published", requeue=True)

    def record(exc: Reject) -> logging.LogRecord:
        args = {"name": "syncer.push_image", "id": "t-1", "exc": str(exc)}
        return trace.makeRecord(trace.name, logging.WARNING, "f", 1, "Task %(exc)s", (args,), None)

    assert not trace.filter(record(ours))
    assert trace.filter(record(other)), "other rejects are still logged"
