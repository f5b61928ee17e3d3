"""Pausing a worker's intake converges on the last wish, whatever order the loop runs in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from workers import intake

QUEUE = "celery"


class FakeConsumer:
    """The parts of Celery's consumer the intake uses; callbacks wait in ``pending``."""

    def __init__(self) -> None:
        self.app = SimpleNamespace(conf=SimpleNamespace(task_default_queue=QUEUE))
        self.consuming = True
        self.task_consumer = SimpleNamespace(consuming_from=lambda q: self.consuming)
        self.pending: list[Callable[[], None]] = []
        self.log: list[str] = []

    def call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        self.pending.append(lambda: fn(*args))

    def cancel_task_queue(self, queue: str) -> None:
        assert queue == QUEUE
        self.consuming = False
        self.log.append("cancel")

    def add_task_queue(self, queue: str) -> None:
        assert queue == QUEUE
        self.consuming = True
        self.log.append("add")


@pytest.fixture
def consumer() -> Iterator[FakeConsumer]:
    c = FakeConsumer()
    step = intake.IntakeStep.__new__(intake.IntakeStep)
    step.start(c)
    yield c
    step.shutdown(c)
    intake.resume()  # leave no wish behind for other tests


def test_pause_then_resume_in_either_order_ends_consuming(consumer: FakeConsumer) -> None:
    assert intake.pause() is True
    intake.resume()
    for callback in reversed(consumer.pending):  # the loop's order is not guaranteed
        callback()
    assert consumer.consuming and consumer.log == []


def test_a_pause_holds_until_resumed(consumer: FakeConsumer) -> None:
    intake.pause()
    consumer.pending.pop()()
    assert not consumer.consuming and consumer.log == ["cancel"]
    intake.resume()
    consumer.pending.pop()()
    assert consumer.consuming and consumer.log == ["cancel", "add"]


def test_without_a_worker_nothing_happens() -> None:
    assert intake.pause() is False
    intake.resume()
