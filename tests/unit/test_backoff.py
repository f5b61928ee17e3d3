"""The one backoff: waits double from the first up to the cap; jitter keeps the upper half."""

from __future__ import annotations

from itertools import islice

import pytest

from syncer import backoff
from syncer.backoff import Backoff


def test_waits_double_from_the_first_up_to_the_cap() -> None:
    assert list(islice(Backoff(0.25, 4.0).delays(), 7)) == [0.25, 0.5, 1, 2, 4, 4, 4]


def test_a_delay_names_the_try_that_failed() -> None:
    steps = Backoff(0.1, 2.0)
    assert [steps.delay(n) for n in (1, 2, 3, 5, 6)] == [0.1, 0.2, 0.4, 1.6, 2.0]
    assert steps.delay(0) == 0.1, "before any try counts as the first"


def test_a_try_counted_far_past_the_cap_still_waits_the_cap() -> None:
    # A blob busy for an hour is looked at again thousands of times: 0.1 * 2**1100
    # overflows a float, and the countdown must still be the cap.
    assert Backoff(0.1, 2.0).delay(1100) == 2.0
    assert Backoff(0.5, 60.0, jitter=True).ceiling(10**6) == 60.0


@pytest.mark.parametrize("attempt", [1, 2, 5, 40])
def test_jitter_is_equal_jitter_within_the_upper_half_of_the_ceiling(attempt: int) -> None:
    steps = Backoff(0.5, 60.0, jitter=True)
    ceiling = steps.ceiling(attempt)
    waits = {steps.delay(attempt) for _ in range(50)}
    assert all(ceiling / 2 <= w <= ceiling for w in waits)
    assert len(waits) > 1


def test_jitter_draws_between_half_and_the_whole_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[float, float]] = []

    def lowest(low: float, high: float) -> float:
        drawn.append((low, high))
        return low

    monkeypatch.setattr(backoff.random, "uniform", lowest)
    assert Backoff(1.0, 8.0, jitter=True).delay(3) == 2.0
    assert drawn == [(2.0, 4.0)]


def test_no_jitter_means_no_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff.random, "uniform", lambda *_: pytest.fail("drew a wait"))
    assert Backoff(1.0, 8.0).delay(3) == 4.0
