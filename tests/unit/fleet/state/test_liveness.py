"""Telling a plan Redis lost from one that finished (fleet.state.liveness), on a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys
from syncer.fleet.state import liveness
from syncer.fleet.state.liveness import Epoch, Watermark
from syncer.fleet.state.plans import COUNTER_FIELDS, PlanStore

pytestmark = pytest.mark.integration


def _counters(**values: int) -> dict[str, int]:
    return {**dict.fromkeys(COUNTER_FIELDS, 0), **values}


def test_the_epoch_is_made_once_per_dataset(redis_client: redis.Redis) -> None:
    first = liveness.epoch(redis_client)
    assert liveness.epoch(redis_client) == first
    assert first.fresh and abs(first.since - time.time()) < 5
    assert redis_client.ttl(keys.epoch()) == -1, "the epoch lives as long as the dataset"

    redis_client.flushdb()
    assert liveness.epoch(redis_client).id != first.id, "a flushed Redis has a new epoch"


def test_an_epoch_made_beside_existing_plans_is_not_fresh(redis_client: redis.Redis) -> None:
    redis_client.zadd(keys.plan_index(), {"20200101-000000-aaaaaa": 1.0})  # before epochs

    assert liveness.epoch(redis_client).fresh is False
    assert Epoch.parse(b"abc 12.5 1") == Epoch("abc", 12.5, True)


def test_a_plan_record_carries_its_stamps(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)

    plan = store.create({"source": "x"}, images=3, rules_pending=2)

    meta = store.meta(plan)
    assert meta["epoch"] == liveness.epoch(redis_client).id and len(meta["run"]) == 16
    assert meta["images"] == 3
    counters = store.status(plan).counters
    assert (counters["tags_total"], counters["rules_pending"]) == (3, 2)
    assert abs(liveness.plan_created(plan) - meta["created"]) < 2  # type: ignore[operator]
    assert liveness.plan_created("not-an-id") is None


def test_a_vanished_plan_is_lost_never_finished(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)
    plan = store.create({}, images=2)
    time.sleep(1.1)  # the id has whole seconds: the new epoch must be later
    redis_client.flushdb()  # restarted without persistence

    status = store.status(plan)

    assert status.state == "lost" and not status.finished
    assert "started over" in status.lost
    assert liveness.why_missing(redis_client, "20991231-000000-abcdef") == ""  # never here


def test_a_plan_cut_down_to_its_counters_is_lost(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)
    plan = store.create({}, images=1)
    redis_client.delete(keys.plan_meta(plan))  # evicted

    assert "evicted" in liveness.why_missing(redis_client, plan)
    assert store.status(plan).state == "lost"


@pytest.mark.parametrize(
    ("meta", "counters", "lost"),
    [
        ({"images": 2}, _counters(tags_total=2), ""),
        ({}, _counters(), ""),  # a plan from before plan records
        ({"images": 2}, {b"tags_done": b"1"}, "counters are gone"),  # re-made by a late HINCRBY
        ({"images": 5}, _counters(tags_total=2), "went back"),
    ],
)
def test_loss_from_one_read(meta: dict[str, int], counters: dict[str, int], lost: str) -> None:
    why = liveness.loss(meta, counters)
    assert (lost in why) if lost else why == ""


def test_a_late_worker_write_does_not_make_a_lost_plan_look_finished(
    redis_client: redis.Redis,
) -> None:
    store = PlanStore(redis_client)
    plan = store.create({}, images=1)
    redis_client.delete(keys.plan_counters(plan))
    redis_client.hincrby(keys.plan_counters(plan), "tags_done", 1)  # a stray increment

    assert store.status(plan).state == "lost"
    assert not store.finished(plan)


def test_the_watermark_sees_counts_go_back_and_a_replaced_record() -> None:
    mark = Watermark()
    assert mark.check({"run": "r1"}, _counters(tags_total=5, tags_done=3)) == ""
    assert mark.check({"run": "r1"}, _counters(tags_total=5, tags_done=4)) == ""

    assert "went back" in mark.check({"run": "r1"}, _counters(tags_total=5, tags_done=1))
    assert "replaced" in Watermark().check({"run": "r1"}, _counters()) + mark.check(
        {"run": "r2"}, _counters(tags_total=5, tags_done=4)
    )
    pending = Watermark()
    assert pending.check({"run": "r"}, _counters(rules_pending=0)) == ""
    assert "went back" in pending.check({"run": "r"}, _counters(rules_pending=1))
    older = Watermark()  # an older planner's plan: rules_pending set after it was made
    assert older.check({}, _counters(rules_pending=0)) == ""
    assert older.check({}, _counters(rules_pending=2)) == ""


def test_status_of_a_plan_with_results_is_not_lost(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)
    plan = store.create({}, images=1)
    store.record(plan, ImageResult("s/a:1", "d/a:1", "synced"))

    status = store.status(plan)
    assert (status.lost, status.state) == ("", "finished")
