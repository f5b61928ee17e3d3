"""A plan's atomic counting steps (syncer.fleet.state.ledger) against a real ``redis-server``."""

from __future__ import annotations

import json
import threading

import pytest
import redis

from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys
from syncer.fleet.state import ledger
from syncer.fleet.state.ledger import Ledger
from syncer.fleet.state.plans import PlanStore
from tests.support.redis_keys import assert_expiring

pytestmark = pytest.mark.integration

TTL = 300
SRC, DST = "src.example/lab/a:v1", "dst.example/mirror/a:v1"
IMAGE = keys.image_id(SRC, DST)


def _plan(client: redis.Redis, **counts: int) -> tuple[PlanStore, Ledger, str]:
    store = PlanStore(client, ttl=TTL)
    plan = store.create({})
    if counts:
        store.bump(plan, **counts)
    return store, Ledger(client, store.ttl_for), plan


def test_finish_records_and_counts_in_one_step(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, tags_total=2)
    result = ImageResult(SRC, DST, "synced", bytes=3, rule="r1")
    token = keys.once_finished(IMAGE, "r1")

    assert book.finish(plan, IMAGE, token, result) == ledger.RECORD
    assert book.finish(plan, IMAGE, token, result) == ledger.NOTHING  # a redelivery

    status = store.status(plan)
    assert status.results == [result]
    assert (status.counters["tags_done"], status.finished) == (1, False)
    final = redis_client.hget(keys.image_record(plan, IMAGE), "final")
    assert final is not None and float(final) > 1.0, "final says when, for reconcile"
    assert_expiring(redis_client, TTL, except_=(keys.plan_index(),))


def test_the_step_that_ends_a_plan_drops_its_working_state(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, tags_total=2)
    other = keys.image_id(SRC, DST + "x")
    book.finish(plan, IMAGE, keys.once_finished(IMAGE, "r1"), ImageResult(SRC, DST, "synced"))
    redis_client.sadd(keys.blob_waiters(plan, "b@sha256:1"), IMAGE)
    redis_client.expire(keys.blob_waiters(plan, "b@sha256:1"), TTL)
    late = ImageResult(SRC, DST + "x", "skipped", rule="r1")

    assert book.finish(plan, other, keys.once_finished(other, "r1"), late) == ledger.RECORD

    status = store.status(plan)
    assert (status.finished, len(status.results)) == (True, 2)
    assert redis_client.exists(keys.plan_ended(plan)), "the step that ends the plan stops its clock"
    left = {k.decode().rsplit(":", 1)[-1] for k in redis_client.scan_iter(f"syncer:plan:{plan}:*")}
    assert left == {"meta", "counters", "results", "ended"}, "only the record and report stay"
    assert_expiring(redis_client, TTL, except_=(keys.plan_index(),))
    # A redelivery after the end counts nothing, though its once-token is gone.
    assert book.finish(plan, other, keys.once_finished(other, "r1"), late) == ledger.NOTHING
    assert book.count_once(plan, "", tags_done=1) == 0
    assert store.status(plan).counters == status.counters


def test_another_rule_naming_the_image_is_counted_skipped_once(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, tags_total=2)
    result = ImageResult(SRC, DST, "failed", "HTTP 500", rule="r1")

    assert book.finish(plan, IMAGE, keys.once_finished(IMAGE, "r1"), result) == ledger.RECORD
    assert not store.finished(plan)
    other = keys.once_finished(IMAGE, "r2")
    assert book.finish(plan, IMAGE, other, result) == ledger.COUNT_RULE
    assert book.finish(plan, IMAGE, other, result) == ledger.NOTHING

    counters = store.status(plan).counters
    assert (counters["tags_failed"], counters["tags_skipped"]) == (1, 1)
    assert len(store.status(plan).results) == 1 and store.finished(plan)


def test_finish_under_concurrent_runs_records_exactly_once(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, tags_total=1)
    result = ImageResult(SRC, DST, "synced", rule="r1")
    outcomes: list[int] = []
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        outcomes.append(book.finish(plan, IMAGE, keys.once_finished(IMAGE, "r1"), result))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(outcomes) == [ledger.NOTHING] * 7 + [ledger.RECORD]
    assert store.status(plan).counters["tags_done"] == 1


def test_nothing_is_written_once_the_plan_record_is_gone(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, tags_total=1)
    redis_client.flushdb()  # a Redis that restarted empty
    result = ImageResult(SRC, DST, "synced", rule="r1")

    assert book.finish(plan, IMAGE, keys.once_finished(IMAGE, "r1"), result) == ledger.GONE
    assert book.count_once(plan, "expand:r", [result], tags_total=1) == ledger.GONE
    assert redis_client.keys("syncer:plan:*") == [], "a late task rebuilt part of a lost plan"


def test_count_once_counts_its_results_and_deltas_once(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, rules_pending=1)
    failed = [
        ImageResult("s/a", "d/m1/a", "failed", "HTTP 404", rule="s/a"),
        ImageResult("s/a", "d/m2/a", "failed", "HTTP 404", rule="s/a"),
    ]

    assert book.count_once(plan, "expand:s/a", failed, tags_total=2, rules_pending=-1) == 1
    assert book.count_once(plan, "expand:s/a", failed, tags_total=2, rules_pending=-1) == 0

    status = store.status(plan)
    assert {k: v for k, v in status.counters.items() if v} == {"tags_total": 2, "tags_failed": 2}
    assert status.results == failed and status.finished
    with pytest.raises(KeyError):
        book.count_once(plan, "x", no_such_counter=1)


def test_count_once_without_a_token_counts_every_time(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client)

    book.count_once(plan, "", blobs_total=1)
    book.count_once(plan, "", blobs_total=1)

    assert store.status(plan).counters["blobs_total"] == 2


def test_a_batch_settles_each_image_as_its_own_finish_would(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, tags_total=4)
    images = [keys.image_id(SRC, f"{DST}{i}") for i in range(3)]
    first = ImageResult(SRC, DST + "0", "skipped", "unchanged", rule="r1")
    book.finish(plan, images[0], keys.once_finished(images[0], "r1"), first)
    batch = [
        ledger.Finish(images[0], keys.once_finished(images[0], "r1"), first, stored=False),
        ledger.Finish(images[0], keys.once_finished(images[0], "r2"), first, stored=False),
        ledger.Finish(images[1], keys.once_finished(images[1], "r1"), first, stored=False),
        ledger.Finish(images[1], keys.once_finished(images[1], "r1"), first, stored=False),
    ]

    outcomes = book.finish_many(plan, batch)

    # A redelivery, another rule naming a settled image, a new image, and that
    # image again in the same batch: nothing, skipped, recorded, nothing.
    assert outcomes == [ledger.NOTHING, ledger.COUNT_RULE, ledger.RECORD, ledger.NOTHING]
    counters = store.status(plan).counters
    assert (counters["tags_skipped"], len(store.status(plan).results)) == (3, 2)
    assert not store.finished(plan)


def test_count_each_counts_every_token_once(redis_client: redis.Redis) -> None:
    store, book, plan = _plan(redis_client, tags_total=1)
    tokens = {"seen:a": {"blobs_total": 1}, "bytes:r@d": {"bytes_total": 7, "bytes_skipped": 7}}

    assert book.count_each(plan, tokens, bytes_done=5) == 2
    assert book.count_each(plan, {**tokens, "seen:b": {"blobs_total": 1}}, bytes_done=5) == 1

    c = store.status(plan).counters
    got = (c["blobs_total"], c["bytes_total"], c["bytes_skipped"], c["bytes_done"])
    assert got == (2, 7, 7, 10)
    # Progress alone (a stream's bytes), and nothing at all.
    assert book.count_each(plan, {}, bytes_done=3) == 0 and book.count_each(plan, {}) == 0
    assert store.status(plan).counters["bytes_done"] == 13
    with pytest.raises(KeyError):
        book.count_each(plan, {"x": {"tags_done": 1}})  # a tag counter may end a plan: not here
    assert book.count_each("20200101-000000-gone00", tokens) == ledger.GONE


def test_a_plan_keeps_each_result_compact_and_whole() -> None:
    synced = ImageResult(SRC, DST, "synced", bytes=3, rule="r1")
    failed = ImageResult(SRC, DST, "failed", "HTTP 500", rule="r1", transient=True)
    for result in (synced, failed):
        text = ledger.result_json(result)
        assert ImageResult.from_dict(json.loads(text)) == result
    assert ledger.result_json(synced) == (
        f'{{"source":"{SRC}","dest":"{DST}","status":"synced","bytes":3,"rule":"r1"}}'
    )
