"""Chunked uploads in progress, shared by the fleet so a redelivered blob task resumes.

When a worker dies mid-upload (``kill -9``, a lost node), the task that takes
over finds the upload session URL here, asks the registry how many bytes it
holds, re-reads (and re-hashes) the source up to there without sending it
again, and continues.
"""

from __future__ import annotations

import redis

from syncer.reference import Repository

#: An upload session idle longer than this is not worth resuming.
SESSION_TTL = 3600


class RedisUploadSessions:
    """Upload session URLs per (destination repository, digest)."""

    key = "syncer:upload:{repo}@{digest}"

    def __init__(self, client: redis.Redis, ttl: int = SESSION_TTL) -> None:
        self.redis, self.ttl = client, ttl

    def get(self, repo: Repository, digest: str) -> str | None:
        """The session URL of an unfinished upload, if any."""
        try:
            raw = self.redis.get(self.key.format(repo=repo, digest=digest))
        except redis.RedisError:
            return None  # resuming is an optimisation
        return raw.decode() if isinstance(raw, bytes) else raw

    def put(self, repo: Repository, digest: str, url: str) -> None:
        """Remember the session after a chunk landed."""
        try:
            self.redis.set(self.key.format(repo=repo, digest=digest), url, ex=self.ttl)
        except redis.RedisError:
            pass  # losing this only costs re-sending bytes after a crash

    def drop(self, repo: Repository, digest: str) -> None:
        """Forget the session."""
        try:
            self.redis.delete(self.key.format(repo=repo, digest=digest))
        except redis.RedisError:
            pass  # the key expires on its own
