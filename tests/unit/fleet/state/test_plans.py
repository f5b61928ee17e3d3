"""Plan state on a real ``redis-server`` (syncer.fleet.state.plans): counters, results, expiry."""

from __future__ import annotations

import json
import time

import pytest
import redis

from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys
from syncer.fleet.state.plans import COUNTER_FIELDS, PlanStatus, PlanStore
from tests.support.redis_keys import assert_expiring, keys_of

pytestmark = pytest.mark.integration

TTL = 300


# -- PlanStatus: pure logic -------------------------------------------------------------
def _status(cancelled: bool = False, **counters: int) -> PlanStatus:
    return PlanStatus("p", {}, {**dict.fromkeys(COUNTER_FIELDS, 0), **counters}, cancelled, [])


@pytest.mark.parametrize(
    ("counters", "cancelled", "finished", "state"),
    [
        ({"rules_pending": 1}, False, False, "running"),  # the planner is still enqueueing
        ({"tags_total": 3, "tags_done": 3, "rules_pending": 1}, False, False, "running"),
        ({"tags_total": 3, "tags_done": 2}, False, False, "running"),
        (
            {"tags_total": 3, "tags_done": 1, "tags_skipped": 1, "tags_failed": 1},
            False,
            True,
            "finished",
        ),
        ({}, False, True, "finished"),  # a plan that selected nothing
        ({"tags_total": 3, "rules_pending": 2}, True, True, "cancelled"),
    ],
)
def test_plan_status_finished(
    counters: dict[str, int], cancelled: bool, finished: bool, state: str
) -> None:
    status = _status(cancelled, **counters)

    assert status.finished is finished
    assert status.state == state


# -- PlanStore -------------------------------------------------------------------------
def test_create_stores_meta_and_zeroed_counters(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)

    plan = store.create({"source": "images.yaml", "force": True})

    assert store.exists(plan)
    meta = store.meta(plan)
    assert meta["plan"] == plan and meta["source"] == "images.yaml" and meta["force"] is True
    assert meta["ttl"] == TTL and abs(meta["created"] - time.time()) < 5
    status = store.status(plan)
    assert status.counters == dict.fromkeys(COUNTER_FIELDS, 0)
    assert (status.cancelled, status.results, status.state) == (False, [], "finished")
    assert store.create({}) != plan
    assert not store.exists("no-such-plan")


def test_bump_once_and_record(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)
    plan = store.create({})
    failed = ImageResult("src/a:1", "dst/a:1", "failed", "MANIFEST_UNKNOWN", rule="src/a")

    store.bump(plan, tags_total=3, rules_pending=1)
    store.bump(plan, rules_pending=-1, bytes_done=0)
    store.record(plan, ImageResult("src/a:2", "dst/a:2", "synced", bytes=10))
    store.record(plan, ImageResult("src/a:3", "dst/a:3", "skipped", "unchanged"))
    assert not store.finished(plan) and not store.status(plan).finished
    store.record(plan, failed)

    status = store.status(plan)
    assert {k: v for k, v in status.counters.items() if v} == {
        "tags_total": 3,
        "tags_done": 1,
        "tags_skipped": 1,
        "tags_failed": 1,
    }
    assert [r.status for r in status.results] == ["synced", "skipped", "failed"]
    assert status.results[2] == failed
    assert status.finished and store.finished(plan)
    # What a progress view reads: the same counters and end, without the results.
    progress = store.status(plan, results=False)
    assert progress.counters == status.counters and progress.results == []
    assert progress.finished and progress.meta["ended"] == status.meta["ended"]
    with pytest.raises(KeyError):
        store.bump(plan, no_such_counter=1)
    assert store.once(plan, "seen:x") is True
    assert store.once(plan, "seen:x") is False
    assert store.once(plan, "seen:y") is True


def test_cancel(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)
    plan, other = store.create({}), store.create({})
    store.bump(plan, tags_total=5, rules_pending=1)
    assert not store.finished(plan)

    store.cancel(plan)
    assert store.finished(plan)

    assert store.cancelled(plan) and not store.cancelled(other)
    status = store.status(plan)
    assert (status.cancelled, status.finished, status.state) == (True, True, "cancelled")
    assert 0 < redis_client.ttl(keys.plan_cancelled(plan)) <= TTL


def test_every_plan_key_expires(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)
    plan = store.create({})
    store.bump(plan, tags_total=1)
    store.once(plan, "seen:x")
    store.record(plan, ImageResult("s:1", "d:1", "synced"))
    store.update_meta(plan, ended=time.time())
    store.cancel(plan)

    assert len(keys_of(redis_client)) >= 5
    assert_expiring(redis_client, TTL)


def test_updates_keep_the_whole_plan_alive(redis_client: redis.Redis) -> None:
    """The module's promise: every key expires ``ttl`` after the plan's last update."""
    store = PlanStore(redis_client, ttl=1)
    plan = store.create({"force": True})
    for _ in range(3):
        time.sleep(0.5)
        store.bump(plan, bytes_done=1)

    assert store.exists(plan), "meta expired while the plan was still being updated"
    assert store.meta(plan).get("force") is True


def test_worker_updates_honour_the_plans_ttl(redis_client: redis.Redis) -> None:
    planner_side = PlanStore(redis_client, ttl=60)
    plan = planner_side.create({})
    worker_side = PlanStore(redis_client)  # what syncer.fleet.steps.context.FleetContext builds

    worker_side.bump(plan, tags_done=1)
    worker_side.once(plan, "seen:x")

    assert_expiring(redis_client, 60)


def test_an_expired_plan_leaves_no_key_behind(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=1)
    plan = store.create({})
    store.bump(plan, tags_total=1)
    store.record(plan, ImageResult("a", "b", "synced"))
    store.cancel(plan)
    time.sleep(1.3)
    assert not store.exists(plan)
    leftovers = [k for k in redis_client.scan_iter("syncer:*") if plan.encode() in k]
    assert leftovers == []


def test_a_blob_counts_its_bytes_once_per_registry(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)
    plan = store.create({})
    store.reference(plan, "dst.io", {"sha256:a": 100, "sha256:b": 20})
    store.reference(plan, "dst.io", {"sha256:a": 100, "sha256:c": -1})
    store.reference(plan, "other.io", {"sha256:a": 100})
    assert store.status(plan).counters["bytes_total"] == 220
    store.settle(plan, "dst.io", "sha256:a", 100, "exists")
    store.settle(plan, "dst.io", "sha256:a", 100, "failed")  # the first outcome stands
    store.settle(plan, "dst.io", "sha256:b", 20, "failed")
    store.settle(plan, "dst.io", "sha256:c", 5, "copied")  # counted by the copy itself
    counters = store.status(plan).counters
    assert (counters["bytes_skipped"], counters["bytes_failed"]) == (100, 20)


def test_standing_tells_live_cancelled_and_unknown_plans_apart(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)
    plan = store.create({})
    assert store.standing(plan) == "live"
    store.cancel(plan)
    assert store.standing(plan) == "cancelled"
    assert store.standing("20200101-000000-000000") == "unknown"


def test_a_worker_reads_the_plans_own_ttl_once(redis_client: redis.Redis) -> None:
    plan = PlanStore(redis_client, ttl=45).create({"source": "a"})
    worker_side = PlanStore(redis_client)
    assert worker_side.ttl_for(plan) == 45
    worker_side.update_meta(plan, source="b", extra=1)
    assert worker_side.meta(plan)["source"] == "b" and worker_side.meta(plan)["ttl"] == 45
    assert 0 < redis_client.ttl(keys.plan_meta(plan)) <= 45


def test_the_clock_stops_when_the_last_tag_settles(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)
    plan = store.create({})
    store.bump(plan, tags_total=1)
    assert redis_client.get(keys.plan_ended(plan)) is None
    store.record(plan, ImageResult("s:1", "d:1", "synced", bytes=5))
    ended = float(redis_client.get(keys.plan_ended(plan)) or 0)
    assert abs(ended - time.time()) < 5
    status = store.status(plan)
    assert status.meta["ended"] == ended
    stats = status.stats()
    assert stats.images.total == 1 and stats.ended is not None
    assert stats.ended - stats.started == pytest.approx(ended - status.meta["created"], abs=0.01)


def test_a_worker_reads_a_plans_settings_once(redis_client: redis.Redis) -> None:
    plan = PlanStore(redis_client, ttl=TTL).create({"force": True, "limits": {"r": 2}})
    worker_side = PlanStore(redis_client)
    assert worker_side.settings("unknown-plan") == {}
    assert worker_side.settings(plan)["limits"] == {"r": 2}
    # Asked again, the store answers from memory: a changed key is not read back.
    redis_client.set(keys.plan_meta(plan), '{"force": false}')
    assert worker_side.settings(plan)["force"] is True
    assert worker_side.meta(plan) == {"force": False}


def test_a_plans_settings_are_read_again_once_it_exists(redis_client: redis.Redis) -> None:
    worker_side = PlanStore(redis_client)
    assert worker_side.settings("later") == {}
    redis_client.set(keys.plan_meta("later"), '{"force": true}')
    assert worker_side.settings("later") == {"force": True}


def test_the_clock_runs_until_the_last_of_several_tags_settles(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=TTL)
    plan = store.create({})
    store.bump(plan, tags_total=2)
    store.record(plan, ImageResult("s:1", "d:1", "skipped"))
    assert redis_client.get(keys.plan_ended(plan)) is None and not store.finished(plan)
    store.record(plan, ImageResult("s:2", "d:2", "failed", "boom"))
    assert redis_client.get(keys.plan_ended(plan)) is not None and store.finished(plan)


def test_a_process_pushes_back_every_expiry_once_per_interval(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PlanStore(redis_client, ttl=1000)
    plan = store.create({})
    assert store.made(plan)
    assert store.keep_due(plan) is True, "a process's first update pushes back every key"
    assert store.keep_due(plan) is False
    later = time.monotonic() + 101  # a tenth of the TTL
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert store.keep_due(plan) is True
    # A plan of an older planner (no working keys made with it): every update, as before.
    redis_client.set(keys.plan_meta("20200101-000000-old000"), json.dumps({"ttl": 1000}))
    assert [store.keep_due("20200101-000000-old000") for _ in range(2)] == [True, True]
