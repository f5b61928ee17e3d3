"""What every fleet step works with: one :class:`FleetContext` per worker process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import redis

from syncer.fleet.protocol import settings
from syncer.fleet.state.blobcache import RedisBlobCache
from syncer.fleet.state.images import PlanImages
from syncer.fleet.state.ledger import Ledger
from syncer.fleet.state.locks import ConnectionLimiter, InflightLocks
from syncer.fleet.state.plans import PlanStore
from syncer.fleet.state.uploads import RedisUploadSessions
from syncer.registry.pool import ClientPool


class Dispatcher(Protocol):
    """Enqueues a task by its stable name (:class:`syncer.fleet.broker.CeleryDispatcher`)."""

    def send(self, name: str, kwargs: dict[str, Any], priority: int | None = None) -> None:
        """Enqueue ``name`` with JSON ``kwargs``."""


@dataclass
class FleetContext:
    """Everything a step needs; built once per worker process (``workers/context.py``).

    Not frozen: the worker swaps ``pool`` and ``limits`` when its auth file changes.
    """

    redis: redis.Redis
    pool: ClientPool
    dispatch: Dispatcher
    #: The worker's own ``max_connections`` settings; the plan's take precedence.
    limits: dict[str, int]

    def __post_init__(self) -> None:
        self.limiter = ConnectionLimiter(self.redis)
        self.plans = PlanStore(self.redis)
        self.board = PlanImages(self.redis, self.plans.ttl_for, self.plans.made)
        self.ledger = Ledger(self.redis, self.plans.ttl_for, self.plans.keep_due)
        self.cache = RedisBlobCache(self.redis)
        self.locks = InflightLocks(self.redis, ttl=settings.lock_ttl())
        self.uploads = RedisUploadSessions(self.redis)
