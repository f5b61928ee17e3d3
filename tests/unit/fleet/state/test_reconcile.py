"""Counts reconciled against image records (fleet.state.reconcile), on a real ``redis-server``."""

from __future__ import annotations

import json
import time

import pytest
import redis

from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys
from syncer.fleet.state.plans import PlanStore
from syncer.fleet.state.reconcile import UNRECORDED, idle, reconcile, unrecorded

pytestmark = pytest.mark.integration

A = ("src.example/lab/a:v1", "dst.example/mirror/a:v1")
B = ("src.example/lab/a:v2", "dst.example/mirror/a:v2")


def _stuck_plan(client: redis.Redis, final_b: str) -> tuple[PlanStore, str]:
    """A plan of A and B: A recorded, B final in its record but never counted."""
    store = PlanStore(client)
    plan = store.create({}, images=2)
    image_a, image_b = keys.image_id(*A), keys.image_id(*B)
    client.hset(keys.image_record(plan, image_a), "final", repr(time.time() - 600))
    store.record(plan, ImageResult(*A, "synced", rule="r"))
    job = {"job": {"source": B[0], "dest": B[1], "rule": "r"}}
    client.hset(keys.image_record(plan, image_b), mapping={"record": json.dumps(job)})
    client.hset(keys.image_record(plan, image_b), "final", final_b)
    store.bump(plan)  # nothing more happens: the worker died between settle and record
    return store, plan


def test_an_image_final_but_uncounted_is_recorded_failed_once(redis_client: redis.Redis) -> None:
    store, plan = _stuck_plan(redis_client, "1")  # as workers before the ledger wrote it
    assert not store.status(plan).finished

    [found] = unrecorded(redis_client, plan, older_than=30)
    assert (found.image, found.result.source, found.result.dest) == (keys.image_id(*B), *B)
    assert reconcile(redis_client, plan, older_than=30) == 1
    assert reconcile(redis_client, plan, older_than=30) == 0  # counted once

    status = store.status(plan)
    assert status.finished and status.counters["tags_failed"] == 1
    [_, failed] = status.results
    assert (failed.source, failed.status, failed.reason, failed.rule) == (
        B[0],
        "failed",
        UNRECORDED,
        "r",
    )


def test_a_recent_final_is_left_to_its_worker(redis_client: redis.Redis) -> None:
    store, plan = _stuck_plan(redis_client, repr(time.time()))

    assert unrecorded(redis_client, plan, older_than=30) == []
    assert reconcile(redis_client, plan, older_than=30) == 0
    assert unrecorded(redis_client, plan, older_than=0)  # once it is old enough


def test_a_plan_without_image_records_has_nothing_to_reconcile(redis_client: redis.Redis) -> None:
    plan = PlanStore(redis_client).create({}, images=1)
    assert reconcile(redis_client, plan, older_than=0) == 0
    assert unrecorded(redis_client, "no*such[plan", older_than=0) == []


def test_idle_is_read_off_the_counters_expiry(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client, ttl=300)
    plan = store.create({}, images=1)
    assert idle(store, store.status(plan)) < 5  # just made

    redis_client.expire(keys.plan_counters(plan), 300 - 40)  # as 40 s without an update
    assert 39 <= idle(store, store.status(plan)) <= 41
    store.bump(plan, bytes_done=1)  # any update moves it
    assert idle(store, store.status(plan)) < 5
