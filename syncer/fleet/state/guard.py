"""The fleet's one boundary with Redis errors, and its one bytes-to-text helper.

A Redis call in ``fleet/`` follows one of two policies, named at the call site:

- :func:`guard`: the state is needed. A ``redis.RedisError`` becomes a
  :class:`~syncer.errors.StateError` (transient: the task is retried),
  chained with ``from exc``.
- :func:`best_effort`: the state is advice, or an optimisation (resuming an
  upload, a shared backoff, which links are busy). The error is swallowed,
  and the caller says why losing the call is harmless.

The stores over a plan (:mod:`~syncer.fleet.state.plans`, :mod:`~syncer.fleet.state.images`)
use neither: their callers choose, because the same call is needed in a task
(``workers/tasks.py`` guards it) and advisory in a byte counter that must not
abort a stream over a Redis restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import overload

import redis

from syncer.errors import StateError

log = logging.getLogger(__name__)


@contextmanager
def guard(what: str, *also: type[Exception]) -> Iterator[None]:
    """Turn a Redis error (or one of ``also``) into ``StateError("<what> unavailable: <type>")``."""
    caught: tuple[type[Exception], ...] = (redis.RedisError, *also)
    try:
        yield
    except caught as exc:
        raise StateError(f"{what} unavailable: {type(exc).__name__}") from exc


@dataclass(slots=True)
class Attempt:
    """What a :func:`best_effort` block ran into."""

    #: The error it swallowed, or None when the block ran through.
    error: Exception | None = None

    @property
    def failed(self) -> bool:
        """Whether the block was cut short by an error."""
        return self.error is not None


@contextmanager
def best_effort(why: str, *also: type[Exception]) -> Iterator[Attempt]:
    """Swallow a Redis error (or one of ``also``); ``why`` says why losing the call is fine.

    The error is logged at debug level and left on the yielded :class:`Attempt`
    for a caller that warns or falls back.
    """
    attempt = Attempt()
    caught: tuple[type[Exception], ...] = (redis.RedisError, *also)
    try:
        yield attempt
    except caught as exc:
        attempt.error = exc
        log.debug("Redis call skipped (%s): %s", why, exc)


@overload
def text(value: None) -> None: ...
@overload
def text(value: bytes | str | int | float) -> str: ...
def text(value: bytes | str | int | float | None) -> str | None:
    """A Redis reply as text: bytes decoded as UTF-8, other values as ``str``, None kept."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
