"""The fleet's blob cache on a real ``redis-server`` (syncer.fleet.blobcache)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from syncer.errors import StateError
from syncer.fleet import keys
from syncer.fleet.blobcache import RedisBlobCache
from tests.support.redis_away import stopped_redis

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_a_blob_added_is_found_by_another_worker_and_offered_for_mounts(
    redis_client: redis.Redis,
) -> None:
    RedisBlobCache(redis_client).add("dst.io", "team/app", A)
    RedisBlobCache(redis_client).add("dst.io", "team/base", A)
    other = RedisBlobCache(redis_client)
    assert other.has("dst.io", "team/app", A)
    assert not other.has("dst.io", "team/app", B)
    assert not other.has("else.io", "team/app", A)
    assert other.repos_with("dst.io", A) == ["team/app", "team/base"]
    assert redis_client.smembers(keys.repos_holding("dst.io", A)) == {b"team/app", b"team/base"}


def test_a_discarded_entry_leaves_both_sets(redis_client: redis.Redis) -> None:
    cache = RedisBlobCache(redis_client)
    cache.add("dst.io", "team/app", A)
    cache.add("dst.io", "team/base", A)
    cache.discard("dst.io", "team/app", A)
    cache.flush()
    assert not cache.has("dst.io", "team/app", A)
    assert cache.repos_with("dst.io", A) == ["team/base"]
    assert not redis_client.sismember(keys.cached_blobs("dst.io", "team/app"), A)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.has("dst.io", "r", A),
        lambda c: c.add("dst.io", "r", A),
        lambda c: c.discard("dst.io", "r", A),
        lambda c: c.repos_with("dst.io", A),
    ],
)
def test_redis_away_is_a_state_error_so_the_copy_is_retried(tmp_path: Path, call: object) -> None:
    with (
        stopped_redis(tmp_path) as client,
        pytest.raises(StateError, match="^blob cache unavailable"),
    ):
        call(RedisBlobCache(client))  # type: ignore[operator]
