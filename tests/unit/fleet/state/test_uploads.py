"""Upload sessions in Redis: kept per (repository, digest) for a while; Redis away costs nothing."""

from __future__ import annotations

from pathlib import Path

import redis

from syncer.fleet.protocol import keys
from syncer.fleet.state.uploads import UPLOAD_SESSION_TTL, RedisUploadSessions
from syncer.oci.reference import Repository
from tests.support.redis_away import stopped_redis

REPO = Repository("dst.example:5000", "team/app")
OTHER = Repository("dst.example:5000", "team/other")
DIGEST = "sha256:" + "ab" * 32
URL = "https://dst.example:5000/v2/team/app/blobs/uploads/1f2e?_state=x"


def test_a_session_is_found_again_by_another_worker(redis_client: redis.Redis) -> None:
    RedisUploadSessions(redis_client).put(REPO, DIGEST, URL)
    taker = RedisUploadSessions(redis_client)
    assert taker.get(REPO, DIGEST) == URL
    assert taker.get(OTHER, DIGEST) is None, "a session belongs to its repository"
    taker.drop(REPO, DIGEST)
    assert taker.get(REPO, DIGEST) is None


def test_a_session_expires(redis_client: redis.Redis) -> None:
    RedisUploadSessions(redis_client).put(REPO, DIGEST, URL)
    assert 0 < redis_client.ttl(keys.upload_session(str(REPO), DIGEST)) <= UPLOAD_SESSION_TTL
    RedisUploadSessions(redis_client, ttl=7).put(OTHER, DIGEST, URL)
    assert 0 < redis_client.ttl(keys.upload_session(str(OTHER), DIGEST)) <= 7


def test_redis_away_means_starting_the_upload_over(tmp_path: Path) -> None:
    with stopped_redis(tmp_path) as gone:
        sessions = RedisUploadSessions(gone)
        sessions.put(REPO, DIGEST, URL)  # no error: losing it costs re-sent bytes
        assert sessions.get(REPO, DIGEST) is None
        sessions.drop(REPO, DIGEST)
