"""The fleet's blob cache: the :class:`syncer.engine.cache.BlobCache` interface on Redis sets."""

from __future__ import annotations

import redis

from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import guard, text

#: What a failure says: ``StateError("blob cache unavailable: ConnectionError")``.
_WHAT = "blob cache"


class RedisBlobCache:
    """The fleet's shared cache: Redis sets, one per destination repository.

    Every call is guarded: a copy that cannot consult the cache is retried,
    not recorded as failed.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def has(self, registry: str, repo: str, digest: str) -> bool:
        """Whether ``digest`` is known to be in ``registry/repo``."""
        with guard(_WHAT):
            return bool(self._redis.sismember(keys.cached_blobs(registry, repo), digest))

    def known(self, registry: str, repo: str, digests: list[str]) -> set[str]:
        """Which of ``digests`` are known to be in ``registry/repo``, in one round trip."""
        if not digests:
            return set()
        with guard(_WHAT):
            found = self._redis.smismember(keys.cached_blobs(registry, repo), digests)
        return {d for d, hit in zip(digests, found, strict=True) if hit}

    def add(self, registry: str, repo: str, digest: str) -> None:
        """Record a confirmed blob in both the repo set and the mount index."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(keys.cached_blobs(registry, repo), digest)
        pipe.sadd(keys.repos_holding(registry, digest), repo)
        with guard(_WHAT):
            pipe.execute()

    def discard(self, registry: str, repo: str, digest: str) -> None:
        """Forget a stale entry."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.srem(keys.cached_blobs(registry, repo), digest)
        pipe.srem(keys.repos_holding(registry, digest), repo)
        with guard(_WHAT):
            pipe.execute()

    def repos_with(self, registry: str, digest: str) -> list[str]:
        """Repositories known to hold ``digest``."""
        with guard(_WHAT):
            members = self._redis.smembers(keys.repos_holding(registry, digest))
        return sorted(text(m) for m in members)

    def flush(self) -> None:
        """Redis writes are immediate."""
