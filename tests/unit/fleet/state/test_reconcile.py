"""Counts reconciled against image records (fleet.state.reconcile), on a real ``redis-server``."""

from __future__ import annotations

import io
import json
import time

import pytest
import redis

from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.messages import ImageRecord
from syncer.fleet.state.images import PlanImages
from syncer.fleet.state.plans import PlanStore
from syncer.fleet.state.reconcile import (
    UNRECORDED,
    idle,
    nothing_in_flight,
    reconcile,
    stalled_copies,
    unrecorded,
)
from syncer.oci import mediatypes
from syncer.oci.manifest import Descriptor

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


def test_a_stalled_plans_waiting_blobs_come_back_as_copy_messages(
    redis_client: redis.Redis,
) -> None:
    store, board = PlanStore(redis_client), PlanImages(redis_client)
    plan = store.create({}, images=3)
    layer = Descriptor(mediatypes.OCI_LAYER, "sha256:" + "1" * 64, 4096)
    config = Descriptor(mediatypes.OCI_CONFIG, "sha256:" + "2" * 64, 300)
    shared = keys.blob_key("dst.example/mirror/a", layer.digest)
    for (source, dest), blobs in [(A, [layer, config]), (B, [layer])]:
        record = ImageRecord({"source": source, "dest": dest, "rule": "r"}, blobs=tuple(blobs))
        image = keys.image_id(source, dest)
        board.save_image(plan, image, record.to_body())
        waits = [keys.blob_key("dst.example/mirror/a", b.digest) for b in blobs]
        board.wait_for(plan, image, waits)
    done = keys.image_id("src.example/lab/a:v3", "dst.example/mirror/a:v3")  # final: left alone
    board.save_image(plan, done, ImageRecord({"source": "s/a:v3", "dest": "d/a:v3"}).to_body())
    board.wait_for(plan, done, [keys.blob_key("dst.example/mirror/a", "sha256:" + "3" * 64)])
    redis_client.hset(keys.image_record(plan, done), "final", repr(time.time()))

    copies = sorted(stalled_copies(redis_client, plan), key=lambda m: m.digest)

    # One message per blob, however many images wait for it (the layer: A and B).
    assert [(m.digest, m.size, m.media_type) for m in copies] == [
        (layer.digest, 4096, mediatypes.OCI_LAYER),
        (config.digest, 300, mediatypes.OCI_CONFIG),
    ]
    assert {(m.plan, m.src, m.dst) for m in copies} == {
        (plan, "src.example/lab/a", "dst.example/mirror/a")
    }
    assert len(board.waiters(plan, shared)) == 2  # the sending changed nothing
    assert stalled_copies(redis_client, store.create({}, images=1)) == []


class _Sent:
    """A dispatcher that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    def send(self, name: str, kwargs: dict[str, object], priority: int | None = None) -> None:
        self.sent.append((name, kwargs))


def test_a_follower_with_a_dispatcher_sends_a_still_plans_copies_again(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncer import defaults
    from syncer.cli.planview import _Stall

    store, board = PlanStore(redis_client), PlanImages(redis_client)
    plan = store.create({}, images=1)
    layer = Descriptor(mediatypes.OCI_LAYER, "sha256:" + "4" * 64, 10)
    record = ImageRecord({"source": A[0], "dest": A[1], "rule": "r"}, blobs=(layer,))
    board.save_image(plan, keys.image_id(*A), record.to_body())
    board.wait_for(plan, keys.image_id(*A), [keys.blob_key("dst.example/mirror/a", layer.digest)])
    monkeypatch.setattr(defaults, "FOLLOW_RECONCILE_AFTER", 0.0)
    status, out, sent = store.status(plan), io.StringIO(), _Sent()
    follower = _Stall(store, out, sent)

    follower.check(status)  # the first look: progress as far as it knows
    assert sent.sent == []
    follower.check(status)  # nothing moved since

    [(name, body)] = sent.sent
    assert name == "syncer.copy_blob" and body["digest"] == layer.digest and body["plan"] == plan
    assert "their copies sent again" in out.getvalue()


def test_nothing_in_flight_sees_queued_and_held_tasks(redis_client: redis.Redis) -> None:
    assert nothing_in_flight(redis_client)
    redis_client.lpush("celery\x06\x163", "a task")  # a priority queue of kombu's
    assert not nothing_in_flight(redis_client)
    redis_client.delete("celery\x06\x163")
    redis_client.hset("unacked", "tag", "a task a worker holds")
    assert not nothing_in_flight(redis_client)


def test_a_still_plan_with_nothing_in_flight_is_stuck(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncer import defaults
    from syncer.cli.planview import PlanStuck, _Stall

    store = PlanStore(redis_client)
    plan = store.create({}, images=20)  # and its sync_tags batch was lost
    monkeypatch.setattr(defaults, "FOLLOW_RECONCILE_AFTER", 0.0)
    status = store.status(plan)
    follower = _Stall(store, io.StringIO(), _Sent())
    follower.check(status)

    with pytest.raises(PlanStuck, match="20 image"):
        follower.check(status)
    redis_client.lpush("celery", "a task that may end it")
    follower.check(status)  # something is queued: not stuck, nothing raised
