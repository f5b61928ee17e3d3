"""The fleet's blob cache on a real ``redis-server`` (syncer.fleet.state.blobcache)."""

from __future__ import annotations

import socket

import pytest
import redis

from syncer.errors import StateError, is_transient
from syncer.fleet.protocol import keys
from syncer.fleet.state.blobcache import RedisBlobCache

A, B, C = ("sha256:" + x * 64 for x in "abc")


def test_blob_cache(redis_client: redis.Redis) -> None:
    cache = RedisBlobCache(redis_client)
    other = RedisBlobCache(redis_client)  # another worker sees the same state

    cache.add("reg:5000", "team/a", A)
    cache.add("reg:5000", "team/b", A)
    cache.add("reg:5000", "team/a", B)
    cache.add("other:5000", "team/c", A)

    assert other.has("reg:5000", "team/a", A) and other.has("reg:5000", "team/b", A)
    assert not other.has("reg:5000", "team/c", A)
    assert not other.has("reg:5000", "team/b", B)
    assert other.repos_with("reg:5000", A) == ["team/a", "team/b"]
    assert other.repos_with("reg:5000", C) == []

    other.discard("reg:5000", "team/a", A)

    assert not cache.has("reg:5000", "team/a", A)
    assert cache.has("reg:5000", "team/a", B)
    assert cache.repos_with("reg:5000", A) == ["team/b"]
    cache.flush()  # a no-op, but part of the interface


def test_blob_cache_without_redis_is_a_transient_state_error() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # No retries: this is about how a refused call is reported, not redis-py's
    # own retry loop (ten tries by default, 20 s against a closed port).
    cache = RedisBlobCache(redis.Redis(port=port, socket_connect_timeout=1, retry=None))
    calls = [
        lambda: cache.has("reg:5000", "team/a", A),
        lambda: cache.known("reg:5000", "team/a", [A, B]),
        lambda: cache.add("reg:5000", "team/a", A),
        lambda: cache.discard("reg:5000", "team/a", A),
        lambda: cache.repos_with("reg:5000", A),
    ]
    for call in calls:
        with pytest.raises(StateError) as info:
            call()
        # Retried by the task, not recorded as the blob's failure.
        assert is_transient(info.value)
        assert "blob cache unavailable: ConnectionError" in str(info.value)


def test_the_mount_index_follows_adds_and_discards(redis_client: redis.Redis) -> None:
    cache = RedisBlobCache(redis_client)
    cache.add("dst.io", "team/app", A)
    cache.add("dst.io", "team/base", A)
    assert redis_client.smembers(keys.repos_holding("dst.io", A)) == {b"team/app", b"team/base"}
    assert redis_client.smembers(keys.cached_blobs("dst.io", "team/app")) == {A.encode()}
    cache.discard("dst.io", "team/app", A)
    assert redis_client.smembers(keys.repos_holding("dst.io", A)) == {b"team/base"}
    assert not redis_client.exists(keys.cached_blobs("dst.io", "team/app"))


def test_known_answers_for_many_digests_of_one_repository(redis_client: redis.Redis) -> None:
    cache = RedisBlobCache(redis_client)
    cache.add("reg:5000", "team/a", A)
    cache.add("reg:5000", "team/a", C)
    cache.add("reg:5000", "team/b", B)
    assert cache.known("reg:5000", "team/a", [A, B, C]) == {A, C}
    assert cache.known("reg:5000", "team/b", [A, B]) == {B}
    assert cache.known("other:5000", "team/a", [A]) == set()
    assert cache.known("reg:5000", "team/a", []) == set()
