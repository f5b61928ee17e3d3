"""Which images wait for which blobs (syncer.fleet.state.images) against a real ``redis-server``.

Plans, the blob cache, locks and leases are unit-tested in ``tests/unit/fleet/``.
"""

from __future__ import annotations

import threading

import pytest
import redis

from syncer.defaults import PLAN_TTL
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.keys import blob_key, image_id
from syncer.fleet.state.images import PlanImages
from tests.support.redis_keys import assert_expiring, keys_of

pytestmark = pytest.mark.integration

TTL = 300
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


# -- PlanImages ------------------------------------------------------------------------
PLAN = "20240101-000000-abcdef"
IMAGE = image_id("src.example/a:1", "dst.example/a:1")


def test_ids_and_keys_are_stable() -> None:
    assert image_id("s/a:1", "d/a:1") == image_id("s/a:1", "d/a:1")
    assert image_id("s/a:1", "d/a:1") != image_id("s/a:1", "d/a:2")
    assert len(IMAGE) == 16
    assert blob_key("dst.example/a", A) == f"dst.example/a@{A}"


def test_image_registered_before_its_blob_lands(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)

    assert board.wait_for(PLAN, IMAGE, [A, B]) == []
    waiters = board.land(PLAN, A)

    assert waiters == [IMAGE]
    assert board.remove_pending(PLAN, IMAGE, A) is False  # B is still pending
    assert board.land(PLAN, B) == [IMAGE]
    assert board.remove_pending(PLAN, IMAGE, B) is True


def test_blob_lands_before_the_image_registers(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)

    assert board.land(PLAN, A) == []
    landed = board.wait_for(PLAN, IMAGE, [A, B])

    assert landed == [A]
    assert board.remove_pending(PLAN, IMAGE, A) is False
    assert board.land(PLAN, B) == [IMAGE]
    assert board.remove_pending(PLAN, IMAGE, B) is True


def test_remove_pending_is_true_exactly_once(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)
    board.wait_for(PLAN, IMAGE, [A, B, C])
    # Both sides of the race (sync_tag and copy_blob), and redeliveries, all remove.
    calls = [blob for blob in (A, B, C) for _ in range(4)]
    results: list[bool] = []
    lock = threading.Lock()

    def remove(blob: str) -> None:
        outcome = board.remove_pending(PLAN, IMAGE, blob)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=remove, args=(blob,)) for blob in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results.count(True) == 1
    assert board.remove_pending(PLAN, IMAGE, C) is False
    assert board.remove_pending(PLAN, IMAGE, A) is False


def test_claim_blob_once_per_plan(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)
    key = blob_key("dst.example/a", A)

    assert board.claim_blob(PLAN, key) is True
    assert board.claim_blob(PLAN, key) is False
    assert board.claim_blob(PLAN, blob_key("dst.example/b", A)) is True
    assert board.claim_blob("other-plan", key) is True
    board.release_claim(PLAN, key)
    assert board.claim_blob(PLAN, key) is True


def test_a_claim_belongs_to_its_task(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)
    key = blob_key("dst.example/a", A)

    assert board.claim_blob(PLAN, key, owner="task-1") is True
    assert board.claim_blob(PLAN, key, owner="task-1") is True  # redelivered: still its own
    assert board.claim_blob(PLAN, key, owner="task-2") is False
    assert board.claim_blob(PLAN, key) is False  # no owner claims nothing back
    board.release_claim(PLAN, key)
    assert board.claim_blob(PLAN, key, owner="task-2") is True
    assert board.claim_blob(PLAN, key, owner="task-1") is False


def test_image_record_saved_once(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)
    record = {"job": {"source": "s/a:1", "dest": "d/a:1"}, "bytes": 3}

    assert board.save_image(PLAN, IMAGE, record) is True
    assert board.save_image(PLAN, IMAGE, {"job": {}}) is False  # a redelivery keeps the first
    assert board.load_image(PLAN, IMAGE) == record
    assert board.load_image(PLAN, "unknown") == {}


def test_the_task_that_removed_the_last_blob_gets_its_push_back(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)
    board.save_image(PLAN, IMAGE, {"job": {}})
    board.wait_for(PLAN, IMAGE, [A])

    assert board.remove_pending(PLAN, IMAGE, A, "task-1") is True
    # Killed before it published the push, the task comes back: it pushes again.
    assert board.remove_pending(PLAN, IMAGE, A, "task-1") is True
    assert board.remove_pending(PLAN, IMAGE, A, "task-2") is False  # anyone else does not
    assert board.remove_pending(PLAN, IMAGE, A) is False
    redis_client.hset(keys.image_record(PLAN, IMAGE), "final", "1")
    assert board.remove_pending(PLAN, IMAGE, A, "task-1") is False  # pushed: never again


def test_blob_failures(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)
    board.wait_for(PLAN, IMAGE, [A, B])

    board.fail_blob(PLAN, B, "DIGEST_INVALID: bad bytes")

    assert board.blob_failure(PLAN, [A, B]) == "DIGEST_INVALID: bad bytes"
    assert board.blob_failure(PLAN, [A]) == ""
    assert board.blob_failure(PLAN, []) == ""
    assert board.blob_failure("other-plan", [B]) == ""
    assert board.waiters(PLAN, B) == [IMAGE]


def test_board_keys_expire(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=TTL)
    board.save_image(PLAN, IMAGE, {})
    board.wait_for(PLAN, IMAGE, [A, B])
    board.claim_blob(PLAN, A)
    board.land(PLAN, A)
    board.fail_blob(PLAN, B, "x")
    board.remove_pending(PLAN, IMAGE, A)

    assert len(keys_of(redis_client)) >= 6
    assert_expiring(redis_client, TTL)


def test_default_ttl_is_a_week(redis_client: redis.Redis) -> None:
    PlanImages(redis_client).claim_blob(PLAN, A)
    assert PLAN_TTL - 5 < redis_client.ttl(keys.blob_claims(PLAN)) <= PLAN_TTL


def test_several_removals_in_one_step_answer_as_each_would(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=60)
    plan, blob, other = "20240101-000000-imgs01", "d/r@sha256:1", "d/r@sha256:2"
    for image in ("last", "more", "final"):
        board.save_image(plan, image, {"job": {}})
    board.wait_for(plan, "last", [blob])
    board.wait_for(plan, "more", [blob, other])
    board.wait_for(plan, "final", [blob])
    redis_client.hset(keys.image_record(plan, "final"), "final", "1")

    assert board.remove_pending_all(plan, ["last", "more", "final"], blob, "copy-1") == [
        "last",
        "final",
    ], "the last blob of 'last' and of 'final' (removed now), not of 'more'"
    # Redelivered: the same task is still the pusher of the image not final yet.
    assert board.remove_pending_all(plan, ["last", "more", "final"], blob, "copy-1") == ["last"]
    assert board.remove_pending_all(plan, ["last"], blob, "copy-2") == []


def test_claims_in_one_step_are_the_owners_own(redis_client: redis.Redis) -> None:
    board = PlanImages(redis_client, ttl=60)
    plan = "20240101-000000-imgs02"
    assert board.claim_blobs(plan, ["a", "b"], "task-1") == [True, True]
    assert board.claim_blobs(plan, ["b", "c"], "task-2") == [False, True]
    assert board.claim_blobs(plan, ["a", "b", "c"], "task-1") == [True, True, False]
    assert board.claim_blobs(plan, ["d"]) == [True] and board.claim_blobs(plan, ["d"]) == [False]
    assert 0 < redis_client.ttl(keys.blob_claims(plan)) <= 60
