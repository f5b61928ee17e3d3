"""The fleet's Redis classes against a real ``redis-server``: plans, image board, cache.

Locks, leases and the shared backoff are in ``tests/unit/fleet/test_locks.py``.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from syncer.errors import StateError, is_transient
from syncer.fleet import images, keys
from syncer.fleet.blobcache import RedisBlobCache
from syncer.fleet.images import ImageBoard, blob_key, image_id
from syncer.fleet.plans import COUNTER_FIELDS, PlanStatus, PlanStore
from syncer.fleet.settings import PLAN_TTL
from syncer.jobs import ImageResult

pytestmark = pytest.mark.integration

TTL = 300
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def _keys(client: redis.Redis) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(count=1000))


def _assert_expiring(client: redis.Redis, ttl: int, *, except_: tuple[str, ...] = ()) -> None:
    """Every key of the database expires within ``ttl`` seconds."""
    for key in _keys(client):
        if key in except_:
            continue
        left = client.ttl(key)
        assert 0 < left <= ttl, f"{key}: ttl {left}, expected 1..{ttl}"


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

    assert len(_keys(redis_client)) >= 5
    _assert_expiring(redis_client, TTL)


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
    worker_side = PlanStore(redis_client)  # what syncer.fleet.context.FleetContext builds

    worker_side.bump(plan, tags_done=1)
    worker_side.once(plan, "seen:x")

    _assert_expiring(redis_client, 60)


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


# -- ImageBoard ------------------------------------------------------------------------
PLAN = "20240101-000000-abcdef"
IMAGE = image_id("src.example/a:1", "dst.example/a:1")


def test_ids_and_keys_are_stable() -> None:
    assert image_id("s/a:1", "d/a:1") == image_id("s/a:1", "d/a:1")
    assert image_id("s/a:1", "d/a:1") != image_id("s/a:1", "d/a:2")
    assert len(IMAGE) == 16
    assert blob_key("dst.example/a", A) == f"dst.example/a@{A}"


def test_image_registered_before_its_blob_lands(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)

    assert board.wait_for(PLAN, IMAGE, [A, B]) == []
    waiters = board.land(PLAN, A)

    assert waiters == [IMAGE]
    assert board.remove_pending(PLAN, IMAGE, A) is False  # B is still pending
    assert board.land(PLAN, B) == [IMAGE]
    assert board.remove_pending(PLAN, IMAGE, B) is True


def test_blob_lands_before_the_image_registers(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)

    assert board.land(PLAN, A) == []
    landed = board.wait_for(PLAN, IMAGE, [A, B])

    assert landed == [A]
    assert board.remove_pending(PLAN, IMAGE, A) is False
    assert board.land(PLAN, B) == [IMAGE]
    assert board.remove_pending(PLAN, IMAGE, B) is True


def test_remove_pending_is_true_exactly_once(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
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


def test_first_enqueue_once_per_plan(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
    key = blob_key("dst.example/a", A)

    assert board.first_enqueue(PLAN, key) is True
    assert board.first_enqueue(PLAN, key) is False
    assert board.first_enqueue(PLAN, blob_key("dst.example/b", A)) is True
    assert board.first_enqueue("other-plan", key) is True
    board.forget_enqueue(PLAN, key)
    assert board.first_enqueue(PLAN, key) is True


def test_a_claim_belongs_to_its_task(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
    key = blob_key("dst.example/a", A)

    assert board.first_enqueue(PLAN, key, owner="task-1") is True
    assert board.first_enqueue(PLAN, key, owner="task-1") is True  # redelivered: still its own
    assert board.first_enqueue(PLAN, key, owner="task-2") is False
    assert board.first_enqueue(PLAN, key) is False  # no owner claims nothing back
    board.forget_enqueue(PLAN, key)
    assert board.first_enqueue(PLAN, key, owner="task-2") is True
    assert board.first_enqueue(PLAN, key, owner="task-1") is False


def test_image_record_saved_and_finished_once(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
    record = {"job": {"source": "s/a:1", "dest": "d/a:1"}, "bytes": 3}

    assert board.save_image(PLAN, IMAGE, record) is True
    assert board.save_image(PLAN, IMAGE, {"job": {}}) is False  # a redelivery keeps the first
    assert board.load_image(PLAN, IMAGE) == record
    assert board.load_image(PLAN, "unknown") == {}
    assert board.finish_once(PLAN, IMAGE) is True
    assert board.finish_once(PLAN, IMAGE) is False


def test_settle_counts_an_image_once_per_rule(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
    guard = keys.plan_once(PLAN)
    rule_a, rule_b = f"finished:{IMAGE}:a", f"finished:{IMAGE}:b"

    # Before: two runs of one push interleaved their two checks, so the
    # requeued original recorded the image and its retry counted it skipped.
    assert board.settle(PLAN, IMAGE, guard, rule_a) == images.RECORD
    assert board.settle(PLAN, IMAGE, guard, rule_a) == images.NOTHING  # the retry
    assert board.settle(PLAN, IMAGE, guard, rule_b) == images.COUNT_RULE  # another rule
    assert board.settle(PLAN, IMAGE, guard, rule_b) == images.NOTHING
    assert 0 < redis_client.ttl(guard) <= TTL


def test_settle_under_concurrent_runs_records_exactly_once(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
    guard = keys.plan_once(PLAN)
    outcomes: list[int] = []
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        outcomes.append(board.settle(PLAN, IMAGE, guard, f"finished:{IMAGE}:a"))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(outcomes) == [images.NOTHING] * 7 + [images.RECORD]


def test_blob_failures(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
    board.wait_for(PLAN, IMAGE, [A, B])

    board.fail_blob(PLAN, B, "DIGEST_INVALID: bad bytes")

    assert board.blob_failure(PLAN, [A, B]) == "DIGEST_INVALID: bad bytes"
    assert board.blob_failure(PLAN, [A]) == ""
    assert board.blob_failure(PLAN, []) == ""
    assert board.blob_failure("other-plan", [B]) == ""
    assert board.waiters(PLAN, B) == [IMAGE]


def test_board_keys_expire(redis_client: redis.Redis) -> None:
    board = ImageBoard(redis_client, ttl=TTL)
    board.save_image(PLAN, IMAGE, {})
    board.finish_once(PLAN, IMAGE)
    board.wait_for(PLAN, IMAGE, [A, B])
    board.first_enqueue(PLAN, A)
    board.land(PLAN, A)
    board.fail_blob(PLAN, B, "x")
    board.remove_pending(PLAN, IMAGE, A)

    assert len(_keys(redis_client)) >= 6
    _assert_expiring(redis_client, TTL)


def test_default_ttl_is_a_week(redis_client: redis.Redis) -> None:
    ImageBoard(redis_client).first_enqueue(PLAN, A)
    assert PLAN_TTL - 5 < redis_client.ttl(keys.blob_claims(PLAN)) <= PLAN_TTL


# -- RedisBlobCache --------------------------------------------------------------------
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
    cache = RedisBlobCache(redis.Redis(port=port, socket_connect_timeout=1))
    calls = [
        lambda: cache.has("reg:5000", "team/a", A),
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
