"""Retry with exponential backoff and full jitter, honouring ``Retry-After``, within a budget.

Every backoff counts against the image's wait budget (:mod:`syncer.registry.waiting`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from syncer import defaults, metrics
from syncer.errors import HTTPError, WaitBudgetError, describe, is_transient
from syncer.registry import deadline, waiting

log = logging.getLogger(__name__)
T = TypeVar("T")


def backoff_delay(attempt: int, exc: BaseException | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    if isinstance(exc, HTTPError) and exc.retry_after is not None:
        return min(exc.retry_after, defaults.BACKOFF_MAX)
    ceiling = min(defaults.BACKOFF_MAX, defaults.BACKOFF_BASE * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


def retrying(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = defaults.REQUEST_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Call ``fn``; retry transient errors up to ``attempts`` times in all."""
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or attempt >= attempts:
                raise
            delay = backoff_delay(attempt, exc)
            log.info("%s: %s; retry %d/%d in %.1fs", what, exc, attempt, attempts - 1, delay)
            metrics.recorder().backoff(metrics.registry_of(exc), "retry")
            if on_retry is not None:
                on_retry(exc, delay)
            wait_to_retry(delay, exc, sleep or deadline.sleep)
            attempt += 1


def wait_to_retry(
    delay: float, exc: BaseException, sleep: Callable[[float], None] = deadline.sleep
) -> None:
    """Back off ``delay`` seconds after ``exc``, within the image's wait budget.

    The wait counts against the registry that failed; a ``Retry-After`` (or a
    backoff) longer than the budget has left fails the image now, naming it.
    """
    asked = exc.retry_after if isinstance(exc, HTTPError) else None
    why = describe(exc)
    if asked is not None and asked > delay:
        why += f"; it asked to wait {asked:g} s (Retry-After)"
    host = metrics.registry_of(exc)
    try:
        waiting.pause(delay, why, "" if host == "unknown" else host, asked, sleep)
    except WaitBudgetError as spent:
        raise spent from exc
