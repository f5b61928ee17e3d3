"""A dispatcher that records what the fleet sends, and a context built on it."""

from __future__ import annotations

from typing import Any

import redis

from syncer.fleet.context import FleetContext
from syncer.registry.pool import ClientPool


class Recorder:
    """Keeps ``(name, kwargs, priority)`` of every send; fails for ``fail_on`` task names."""

    def __init__(self, fail_on: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, dict[str, Any], int | None]] = []
        self.fail_on = fail_on

    def send(self, name: str, kwargs: dict[str, Any], priority: int | None = None) -> None:
        """Record the message, or fail as an unreachable broker would."""
        if name in self.fail_on:
            raise ConnectionError("broker unavailable")
        self.sent.append((name, kwargs, priority))

    @property
    def names(self) -> list[str]:
        """The task names sent, in order."""
        return [name for name, _, _ in self.sent]


def fleet_context(
    client: redis.Redis, dispatch: Recorder, pool: ClientPool | None = None
) -> FleetContext:
    """A worker's context on ``client``; steps that never reach a registry need no pool."""
    return FleetContext(redis=client, pool=pool, dispatch=dispatch, limits={})  # type: ignore[arg-type]
