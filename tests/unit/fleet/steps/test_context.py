"""A worker's context (syncer.fleet.steps.context): every store on the one injected client."""

from __future__ import annotations

import pytest
import redis

from syncer.fleet.state.blobcache import RedisBlobCache
from syncer.fleet.state.plans import PlanStore
from syncer.oci.reference import Repository
from tests.support.dispatch import Recorder, fleet_context

pytestmark = pytest.mark.integration


def test_every_store_shares_the_injected_client(redis_client: redis.Redis) -> None:
    dispatch = Recorder()
    fleet = fleet_context(redis_client, dispatch)
    assert fleet.dispatch is dispatch and fleet.limits == {}
    plan = fleet.plans.create({"source": "images.yaml"})
    assert PlanStore(redis_client).meta(plan)["source"] == "images.yaml"
    fleet.cache.add("dst.io", "team/app", "sha256:" + "a" * 64)
    assert RedisBlobCache(redis_client).has("dst.io", "team/app", "sha256:" + "a" * 64)
    repo = Repository.parse("dst.io/team/app")
    fleet.uploads.put(repo, "sha256:" + "b" * 64, "https://dst.io/v2/team/app/blobs/uploads/1")
    again = fleet_context(redis_client, Recorder())
    assert again.uploads.get(repo, "sha256:" + "b" * 64) == (
        "https://dst.io/v2/team/app/blobs/uploads/1"
    )


def test_the_in_flight_lock_lifetime_follows_the_visibility_timeout(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCER_VISIBILITY_TIMEOUT", "30")
    assert fleet_context(redis_client, Recorder()).locks.ttl == 10.0
    monkeypatch.setenv("SYNCER_VISIBILITY_TIMEOUT", "600")
    assert fleet_context(redis_client, Recorder()).locks.ttl == 60.0
