"""Shared backoff per registry: when one request is told to slow down, all of them do.

A 429 with ``Retry-After``, or Docker Hub's ``ratelimit-remaining`` header
running low (https://docs.docker.com/docker-hub/usage/pulls/), pauses every
request to that registry: every thread with :class:`LocalThrottle`, every
worker of a fleet with :class:`syncer.fleet.state.locks.RedisThrottle`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from syncer import defaults, untrusted
from syncer.registry import deadline, waiting

log = logging.getLogger(__name__)


class Throttle(Protocol):
    """Coordinates backoff for registries."""

    def wait(self, registry: str) -> None:
        """Block while ``registry`` is paused."""

    def pause(self, registry: str, seconds: float) -> None:
        """Pause all requests to ``registry`` for ``seconds``."""


class NoThrottle:
    """Never waits."""

    def wait(self, registry: str) -> None:
        """Return at once."""

    def pause(self, registry: str, seconds: float) -> None:
        """Ignore."""


class LocalThrottle:
    """Backoff shared by the threads of one process."""

    def __init__(self, sleep: object = deadline.sleep) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sleep = sleep

    def wait(self, registry: str) -> None:
        """Block while ``registry`` is paused."""
        while True:
            with self._lock:
                left = self._until.get(registry, 0.0) - time.monotonic()
            if left <= 0:
                return
            # Counted against the image's wait budget; a pause past it fails the image now.
            waiting.pause(min(left, 1.0), paused(registry), registry, left, self._sleep)  # type: ignore[arg-type]

    def pause(self, registry: str, seconds: float) -> None:
        """Pause ``registry``; a longer pause already in place wins."""
        seconds = min(max(seconds, 0.0), defaults.BACKOFF_MAX)
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._until.get(registry, 0.0):
                self._until[registry] = until
                log.warning("%s asked us to slow down: pausing it for %.1fs", registry, seconds)


def paused(registry: str) -> str:
    """Why a request waits: its registry is paused."""
    return f"{registry} asked us to slow down and is paused"


def ratelimit_remaining(header: str | None) -> int | None:
    """Parse Docker Hub's ``ratelimit-remaining: 76;w=21600``."""
    if not header:
        return None
    return untrusted.whole(header.split(";", 1)[0])
