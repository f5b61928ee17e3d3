"""Chunked uploads in progress, shared by the fleet so a redelivered blob task resumes.

When a worker dies mid-upload (``kill -9``, a lost node), the task that takes
over finds the upload session URL here, asks the registry how many bytes it
holds, re-reads (and re-hashes) the source up to there without sending it
again, and continues. Every call is best effort: resuming is an optimisation.
"""

from __future__ import annotations

import redis

from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import best_effort, text
from syncer.oci.reference import Repository

#: An upload session idle longer than this (seconds) is not worth resuming:
#: an hour outlasts a worker restart or a Redis blip mid-upload, and then the
#: blob is simply uploaded afresh.
UPLOAD_SESSION_TTL = 3600


class RedisUploadSessions:
    """Upload session URLs per (destination repository, digest)."""

    def __init__(self, client: redis.Redis, ttl: int = UPLOAD_SESSION_TTL) -> None:
        self.redis, self.ttl = client, ttl

    def get(self, repo: Repository, digest: str) -> str | None:
        """The session URL of an unfinished upload, if any."""
        raw = None
        with best_effort("without the session the upload starts over"):
            raw = self.redis.get(keys.upload_session(str(repo), digest))
        return text(raw)

    def put(self, repo: Repository, digest: str, url: str) -> None:
        """Remember the session after a chunk landed."""
        with best_effort("losing it only costs re-sending bytes after a crash"):
            self.redis.set(keys.upload_session(str(repo), digest), url, ex=self.ttl)

    def drop(self, repo: Repository, digest: str) -> None:
        """Forget the session."""
        with best_effort("the key expires on its own"):
            self.redis.delete(keys.upload_session(str(repo), digest))
