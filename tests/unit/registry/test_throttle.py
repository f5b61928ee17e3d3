"""Shared backoff in one process (syncer.registry.throttle): pauses, waits, Docker Hub's header."""

from __future__ import annotations

import time

import pytest

from syncer import defaults
from syncer.errors import WaitBudgetError
from syncer.registry import waiting
from syncer.registry.throttle import LocalThrottle, NoThrottle, ratelimit_remaining
from syncer.registry.waiting import WaitBudget


class _Sleeps:
    """Records sleeps and moves a fake monotonic clock forward by them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        monkeypatch.setattr(time, "monotonic", lambda: self.now)

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_wait_returns_at_once_for_a_registry_never_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = _Sleeps(monkeypatch)
    LocalThrottle(sleep=sleeps).wait("reg.io")
    assert sleeps.slept == []


def test_wait_sleeps_out_the_pause_in_steps_of_at_most_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps = _Sleeps(monkeypatch)
    throttle = LocalThrottle(sleep=sleeps)
    throttle.pause("reg.io", 2.5)
    throttle.wait("other.io")
    assert sleeps.slept == [], "another registry is not paused"
    throttle.wait("reg.io")
    assert sleeps.slept == [1.0, 1.0, 0.5]


def test_a_longer_pause_in_place_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = _Sleeps(monkeypatch)
    throttle = LocalThrottle(sleep=sleeps)
    throttle.pause("reg.io", 3)
    throttle.pause("reg.io", 1)
    throttle.wait("reg.io")
    assert sum(sleeps.slept) == pytest.approx(3)


def test_a_pause_is_capped_and_never_negative(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = _Sleeps(monkeypatch)
    throttle = LocalThrottle(sleep=sleeps)
    throttle.pause("neg.io", -5)
    throttle.wait("neg.io")
    assert sleeps.slept == []
    throttle.pause("reg.io", 10_000)
    throttle.wait("reg.io")
    assert sum(sleeps.slept) == pytest.approx(defaults.BACKOFF_MAX)


def test_no_throttle_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = _Sleeps(monkeypatch)
    throttle = NoThrottle()
    throttle.pause("reg.io", 30)
    throttle.wait("reg.io")
    assert sleeps.now == 1000.0


@pytest.mark.parametrize(
    ("header", "remaining"),
    [
        ("76;w=21600", 76),
        (" 0 ; w=21600", 0),
        ("12", 12),
        (None, None),
        ("", None),
        ("x;w=1", None),
    ],
)
def test_ratelimit_remaining_reads_docker_hubs_header(
    header: str | None, remaining: int | None
) -> None:
    assert ratelimit_remaining(header) == remaining


def test_a_pause_counts_against_the_image_wait_budget_and_fails_it_past_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps = _Sleeps(monkeypatch)
    throttle = LocalThrottle(sleep=sleeps)
    throttle.pause("reg.io", 2.5)
    with waiting.scope(WaitBudget(10.0)) as budget:
        throttle.wait("reg.io")
    assert budget.spent == {"reg.io": 2.5}
    throttle.pause("reg.io", 30)
    with waiting.scope(WaitBudget(10.0)), pytest.raises(WaitBudgetError) as caught:
        throttle.wait("reg.io")
    assert sleeps.slept == [1.0, 1.0, 0.5], "a pause longer than the budget is not slept"
    assert "reg.io asked us to slow down and is paused; gave up" in str(caught.value)


@pytest.mark.parametrize("value", ["9" * 5000, "\u00b2;w=21600", "-1", "many"])
def test_a_ratelimit_remaining_that_is_no_count_is_ignored(value: str) -> None:
    assert ratelimit_remaining(value) is None
