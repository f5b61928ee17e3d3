"""The engine's copy path on the fleet's Redis blob cache (embedded: unit/engine/test_copypath)."""

from __future__ import annotations

import redis

from syncer.engine.copypath import copy_and_record, push_with_recheck
from syncer.fleet.state.blobcache import RedisBlobCache
from tests.support.copypath import (
    DST,
    GONE,
    OTHER,
    PRESENT,
    SRC,
    FakeCopier,
    FakePool,
    RecordingCache,
    blob_url,
    digest_of,
    image,
    layer,
    manifest_url,
    stale_cache_registry,
)


def test_a_copy_recorded_in_redis_is_mounted_from_by_the_next(redis_client: redis.Redis) -> None:
    cache = RedisBlobCache(redis_client)
    desc = layer(PRESENT)
    copier = FakeCopier("copied")

    assert copy_and_record(copier, cache, SRC, OTHER, desc) == "copied"
    copier.outcome = "mounted"
    assert copy_and_record(copier, cache, SRC, DST, desc) == "mounted"

    assert copier.mounts == [[], [OTHER]]
    assert cache.repos_with(DST.registry, desc.digest) == sorted([OTHER.path, DST.path])


def test_settle_runs_before_redis_learns_of_the_blob(redis_client: redis.Redis) -> None:
    cache = RedisBlobCache(redis_client)
    desc = layer(PRESENT)
    cached_when_settled: list[bool] = []

    def settle(outcome: str) -> None:
        cached_when_settled.append(cache.has(DST.registry, DST.path, desc.digest))

    copy_and_record(FakeCopier(), cache, SRC, DST, desc, before_record=settle)

    assert cached_when_settled == [False]
    assert cache.has(DST.registry, DST.path, desc.digest)


def test_a_stale_redis_entry_is_rechecked_and_the_push_repeated(redis_client: redis.Redis) -> None:
    fake = stale_cache_registry()
    res = image()
    cache = RecordingCache(RedisBlobCache(redis_client))
    for desc in res.blobs.values():
        cache.inner.add(DST.registry, DST.path, desc.digest)

    push_with_recheck(res, FakePool(fake), cache)

    assert len(fake.requests_to("PUT", manifest_url())) == 2
    assert len(fake.requests_to("GET", blob_url(SRC, GONE))) == 1
    for data in (PRESENT, GONE):
        digest = digest_of(data)
        assert cache.calls.index(("discard", digest)) < cache.calls.index(("add", digest))
        assert cache.inner.repos_with(DST.registry, digest) == [DST.path]
