"""Retry policy: which errors retry, how long we wait, when we stop."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from syncer import defaults
from syncer.errors import (
    AuthError,
    CacheError,
    ConfigError,
    DigestMismatchError,
    HTTPError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    StateError,
    TLSError,
    TLSHandshakeError,
    TransportError,
    UnsupportedError,
    WaitBudgetError,
)
from syncer.registry import retry, waiting
from syncer.registry.retry import backoff_delay, retrying
from syncer.registry.waiting import WaitBudget

TRANSIENT = [
    TransportError("reset"),
    RateLimitedError("slow down", status=429),
    ServerError("oops", status=503),
    # An EOF or reset mid-handshake (a restarting load balancer) heals.
    TLSHandshakeError("GET https://reg.example/v2/: TLS error: EOF occurred"),
    # Redis restarting under the fleet's state heals too.
    StateError("blob cache unavailable: ConnectionError"),
]
PERMANENT = [
    AuthError("denied", status=401),
    NotFoundError("gone", status=404),
    HTTPError("bad request", status=400),
    DigestMismatchError("blob", "sha256:a", "sha256:b"),
    ConfigError("bad key"),
    TLSError("bad cert"),
    UnsupportedError("schema0"),
    CacheError("redis down"),
    ValueError("a bug"),
]


def failing(*errors: BaseException, result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A callable that raises ``errors`` in turn, then returns ``result``; and its call count."""
    calls = [0]
    queue = list(errors)

    def fn() -> str:
        calls[0] += 1
        if queue:
            raise queue.pop(0)
        return result

    return fn, calls


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_are_retried(exc: Exception) -> None:
    fn, calls = failing(exc, exc)
    delays: list[float] = []
    assert retrying(fn, what="op", sleep=delays.append) == "ok"
    assert calls[0] == 3 and len(delays) == 2


@pytest.mark.parametrize("exc", PERMANENT, ids=lambda e: type(e).__name__)
def test_permanent_errors_are_never_retried(exc: Exception) -> None:
    fn, calls = failing(exc)
    delays: list[float] = []
    with pytest.raises(type(exc)) as info:
        retrying(fn, what="op", sleep=delays.append)
    assert info.value is exc and calls[0] == 1 and delays == []


def test_gives_up_after_attempts_with_the_last_error() -> None:
    errors = [TransportError(f"reset {i}") for i in range(10)]
    fn, calls = failing(*errors)
    delays: list[float] = []
    with pytest.raises(TransportError) as info:
        retrying(fn, what="op", attempts=4, sleep=delays.append)
    assert calls[0] == 4 and len(delays) == 3
    assert info.value is errors[3]


def test_default_attempts() -> None:
    fn, calls = failing(*[ServerError("x", status=500)] * 20)
    with pytest.raises(ServerError):
        retrying(fn, what="op", sleep=lambda _: None)
    assert calls[0] == defaults.REQUEST_ATTEMPTS


def test_one_attempt_means_no_retry() -> None:
    fn, calls = failing(TransportError("x"))
    with pytest.raises(TransportError):
        retrying(fn, what="op", attempts=1, sleep=lambda _: pytest.fail("slept"))
    assert calls[0] == 1


def test_retry_after_is_honoured() -> None:
    fn, _ = failing(RateLimitedError("429", status=429, retry_after=3.0))
    delays: list[float] = []
    retrying(fn, what="op", sleep=delays.append)
    assert delays == [3.0]


def test_retry_after_is_capped() -> None:
    fn, _ = failing(ServerError("503", status=503, retry_after=86400.0))
    delays: list[float] = []
    retrying(fn, what="op", sleep=delays.append)
    assert delays == [defaults.BACKOFF_MAX]


def test_on_retry_sees_error_and_delay() -> None:
    exc = RateLimitedError("429", status=429, retry_after=1.5)
    fn, _ = failing(exc)
    seen: list[tuple[BaseException, float]] = []
    retrying(fn, what="op", sleep=lambda _: None, on_retry=lambda e, d: seen.append((e, d)))
    assert seen == [(exc, 1.5)]


def test_backoff_ceiling_doubles_then_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)
    ceilings = [backoff_delay(n) for n in range(1, 12)]
    assert ceilings[:4] == [defaults.BACKOFF_BASE * k for k in (1, 2, 4, 8)]
    assert ceilings == sorted(ceilings)
    assert ceilings[-1] == defaults.BACKOFF_MAX


@pytest.mark.parametrize("attempt", [1, 2, 5, 40])
def test_backoff_has_jitter_within_half_to_full_ceiling(attempt: int) -> None:
    ceiling = min(defaults.BACKOFF_MAX, defaults.BACKOFF_BASE * 2 ** (attempt - 1))
    delays = {backoff_delay(attempt) for _ in range(50)}
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(delays) > 1


def test_backoff_ignores_retry_after_absent() -> None:
    delay = backoff_delay(1, ServerError("x", status=500))
    assert defaults.BACKOFF_BASE / 2 <= delay <= defaults.BACKOFF_BASE


# -- the wait budget: every backoff counts against the image's ---------------------------
def test_backoffs_stop_when_the_image_has_waited_its_budget_on_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)  # 0.5, 1, 2, 4, 8…
    exc = ServerError("503", status=503, url="https://reg.example/v2/x/manifests/v1")
    fn, calls = failing(*[exc] * 20)
    delays: list[float] = []
    with waiting.scope(WaitBudget(5.0)), pytest.raises(WaitBudgetError) as caught:
        retrying(fn, what="op", attempts=20, sleep=delays.append)
    assert delays == [0.5, 1.0, 2.0], "the next, 4 s, would pass the 5 s budget"
    assert calls[0] == 4
    assert str(caught.value) == (
        "503; gave up after 4 s of waiting on reg.example: the wait budget of one image "
        "on one registry is 5 s (SYNCER_WAIT_BUDGET)"
    )
    assert caught.value.__cause__ is exc


def test_a_retry_after_longer_than_the_budget_left_fails_at_once_naming_it() -> None:
    exc = RateLimitedError(
        "GET x: HTTP 429", status=429, retry_after=86400.0, url="https://reg.example/v2/"
    )
    fn, calls = failing(exc)
    delays: list[float] = []
    with waiting.scope(WaitBudget(90.0)), pytest.raises(WaitBudgetError) as caught:
        retrying(fn, what="op", sleep=delays.append)
    assert delays == [] and calls[0] == 1
    assert "HTTP 429; it asked to wait 86400 s (Retry-After); gave up after 0 s" in str(
        caught.value
    )
