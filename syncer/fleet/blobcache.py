"""The fleet's blob cache: the :class:`syncer.cache.BlobCache` interface on Redis sets."""

from __future__ import annotations

import redis

from syncer.errors import StateError


class RedisBlobCache:
    """The fleet's shared cache: Redis sets, one per destination repository."""

    #: Digests present in one destination repository.
    repo_key = "syncer:blobs:{registry}:{repo}"
    #: Repositories of one destination registry that hold a digest (for mounts).
    index_key = "syncer:blobrepos:{registry}:{digest}"

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def has(self, registry: str, repo: str, digest: str) -> bool:
        """Whether ``digest`` is known to be in ``registry/repo``."""
        return bool(
            self._call(
                self._redis.sismember, self.repo_key.format(registry=registry, repo=repo), digest
            )
        )

    def add(self, registry: str, repo: str, digest: str) -> None:
        """Record a confirmed blob in both the repo set and the mount index."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(self.repo_key.format(registry=registry, repo=repo), digest)
        pipe.sadd(self.index_key.format(registry=registry, digest=digest), repo)
        self._call(pipe.execute)

    def discard(self, registry: str, repo: str, digest: str) -> None:
        """Forget a stale entry."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.srem(self.repo_key.format(registry=registry, repo=repo), digest)
        pipe.srem(self.index_key.format(registry=registry, digest=digest), repo)
        self._call(pipe.execute)

    def repos_with(self, registry: str, digest: str) -> list[str]:
        """Repositories known to hold ``digest``."""
        try:
            members = self._redis.smembers(self.index_key.format(registry=registry, digest=digest))
        except redis.RedisError as exc:
            raise StateError(f"blob cache unavailable: {type(exc).__name__}") from exc
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    def flush(self) -> None:
        """Redis writes are immediate."""

    @staticmethod
    def _call(fn: object, *args: object) -> object:
        try:
            return fn(*args)  # type: ignore[operator]
        except redis.RedisError as exc:
            raise StateError(f"blob cache unavailable: {type(exc).__name__}") from exc
