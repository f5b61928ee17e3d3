"""A plan's checks and prune candidates (syncer.fleet.state.checks) on a real ``redis-server``."""

from __future__ import annotations

import pytest
import redis

from syncer.engine.verify import Check
from syncer.fleet.protocol import keys
from syncer.fleet.state.checks import CheckStore
from tests.support.redis_keys import assert_expiring

pytestmark = pytest.mark.integration


def test_checks_round_trip_and_expire_with_the_plan(redis_client: redis.Redis) -> None:
    store = CheckStore(redis_client, 120)
    rows = [
        Check("same", "s:1", "d:1", "r", "sha256:a", "sha256:a"),
        Check("extra", "", "d:2", "r"),
    ]
    store.record("p", rows)
    store.record("p", [])
    assert store.checks("p") == rows
    assert redis_client.exists(keys.plan_checks("p"))
    assert_expiring(redis_client, 120)


def test_the_last_rule_to_hand_in_sees_zero_left(redis_client: redis.Redis) -> None:
    store = CheckStore(redis_client, 60)
    assert store.pruning("p") == 0
    store.expect_pruning("p", 2)
    assert store.add_candidates("p", {"rows": [], "kept": {}, "protected": ["x"]}) == 1
    assert store.pruning("p") == 1
    assert store.add_candidates("p", {"rows": [], "kept": {}, "protected": []}) == 0
    assert [b["protected"] for b in store.candidates("p")] == [["x"], []]
    assert store.refused("p") == ""
    store.refuse("p", "too many")
    assert store.refused("p") == "too many"
    assert_expiring(redis_client, 60)
