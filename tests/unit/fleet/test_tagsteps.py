"""How ``sync_tag`` hands out an image's missing blobs, against a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from syncer import defaults
from syncer.credentials import Credentials
from syncer.engine import Resolved
from syncer.fleet import settings, tagsteps
from syncer.fleet.context import FleetContext
from syncer.fleet.messages import ExpandRule
from syncer.registry.pool import ClientPool
from syncer.rules import parse_rule
from tests.support.dispatch import JOB, MIB, PLAN, Recorder, fleet_context, missing_blobs
from tests.support.hostile import HostileRegistry


def test_large_blobs_first_then_one_batch_of_the_small_ones(redis_client: redis.Redis) -> None:
    dispatch = Recorder()
    missing = missing_blobs(1 * MIB, 100 * MIB, 3 * MIB, 5 * MIB, 2000)

    tagsteps._hand_out_copies(fleet_context(redis_client, dispatch), PLAN, JOB, missing, "task-1")

    names = [name for name, _, _ in dispatch.sent]
    assert names == [settings.COPY_BLOB, settings.COPY_BLOB, settings.COPY_BLOBS]
    assert [kw["size"] for _, kw, _ in dispatch.sent[:2]] == [100 * MIB, 5 * MIB]
    assert dispatch.sent[0][2] == settings.blob_priority(100 * MIB) < defaults.BATCH_PRIORITY
    _, batch, priority = dispatch.sent[2]
    assert priority == defaults.BATCH_PRIORITY
    assert [b["size"] for b in batch["blobs"]] == [3 * MIB, 1 * MIB, 2000]
    assert batch["src"] == "src.example/lab/app" and batch["dst"] == "dst.example/mirror/app"


def test_a_batch_carries_at_most_its_byte_budget(redis_client: redis.Redis) -> None:
    dispatch = Recorder()
    count = defaults.BATCH_BYTES // MIB + 4

    tagsteps._hand_out_copies(
        fleet_context(redis_client, dispatch), PLAN, JOB, missing_blobs(*[MIB] * count), "task-1"
    )

    singles = [kw for name, kw, _ in dispatch.sent if name == settings.COPY_BLOB]
    [batch] = [kw for name, kw, _ in dispatch.sent if name == settings.COPY_BLOBS]
    assert len(batch["blobs"]) == defaults.BATCH_BYTES // MIB and len(singles) == 4


def test_batching_can_be_turned_off(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCER_BATCH_BLOB", "0")
    dispatch = Recorder()

    tagsteps._hand_out_copies(
        fleet_context(redis_client, dispatch), PLAN, JOB, missing_blobs(MIB, 9, 0), "t"
    )

    assert [name for name, _, _ in dispatch.sent] == [settings.COPY_BLOB] * 3


def test_claims_are_given_back_when_publishing_fails(redis_client: redis.Redis) -> None:
    missing = missing_blobs(100 * MIB, MIB, MIB)
    fleet = fleet_context(redis_client, Recorder(fail_on=(settings.COPY_BLOBS,)))

    with pytest.raises(ConnectionError):
        tagsteps._hand_out_copies(fleet, PLAN, JOB, missing, "task-1")

    big, *small = missing
    # The large copy was published: its claim stands. The batch was not: a
    # retry (or another image's task) may claim and enqueue those blobs.
    assert fleet.board.claim_blob(PLAN, big, "task-2") is False
    assert all(fleet.board.claim_blob(PLAN, key, "task-2") for key in small)


def test_a_redelivered_task_hands_its_blobs_out_again(redis_client: redis.Redis) -> None:
    missing = missing_blobs(100 * MIB, MIB)
    first, again, other = Recorder(), Recorder(), Recorder()

    tagsteps._hand_out_copies(fleet_context(redis_client, first), PLAN, JOB, missing, "task-1")
    tagsteps._hand_out_copies(fleet_context(redis_client, again), PLAN, JOB, missing, "task-1")
    tagsteps._hand_out_copies(fleet_context(redis_client, other), PLAN, JOB, missing, "task-9")

    assert [n for n, _, _ in again.sent] == [n for n, _, _ in first.sent]
    assert other.sent == []  # another image's task leaves them to their owner


def test_a_batch_carries_at_most_its_blob_count(redis_client: redis.Redis) -> None:
    dispatch = Recorder()
    count = defaults.BATCH_COUNT + 10

    tagsteps._hand_out_copies(
        fleet_context(redis_client, dispatch), PLAN, JOB, missing_blobs(*[100] * count), "task-1"
    )

    [batch] = [kw for name, kw, _ in dispatch.sent if name == settings.COPY_BLOBS]
    singles = [kw for name, kw, _ in dispatch.sent if name == settings.COPY_BLOB]
    assert len(batch["blobs"]) == defaults.BATCH_COUNT and len(singles) == 10


class FailOnce(Recorder):
    """Fails the first send of ``name``, then records like :class:`Recorder`."""

    def __init__(self, name: str) -> None:
        super().__init__(fail_on=(name,))

    def send(self, name: str, kwargs: dict[str, Any], priority: int | None = None) -> None:
        try:
            super().send(name, kwargs, priority)
        finally:
            self.fail_on = ()


def test_a_failure_mid_hand_out_gives_back_every_unpublished_claim(
    redis_client: redis.Redis,
) -> None:
    # 4+4+4+3 MiB fill a batch; the last 3 MiB blob goes alone, and that publish fails
    # before the batch is sent.
    missing = missing_blobs(4 * MIB, 4 * MIB, 4 * MIB, 3 * MIB, 3 * MIB)
    dispatch = FailOnce(settings.COPY_BLOB)
    fleet = fleet_context(redis_client, dispatch)

    with pytest.raises(ConnectionError):
        tagsteps._hand_out_copies(fleet, PLAN, JOB, missing, "task-1")
    # Whoever comes next (the retry, or another image's task) can enqueue them all.
    tagsteps._hand_out_copies(fleet, PLAN, JOB, missing, "task-2")

    sent = {kw["digest"] for name, kw, _ in dispatch.sent if name == settings.COPY_BLOB}
    for name, kw, _ in dispatch.sent:
        if name == settings.COPY_BLOBS:
            sent |= {b["digest"] for b in kw["blobs"]}
    assert sent == {d.digest for d in missing.values()}, "a claimed blob was never enqueued"


def test_expand_fans_out_good_tags_and_records_bad_ones_escaped(
    redis_client: redis.Redis,
) -> None:
    dispatch = Recorder()
    with HostileRegistry(lifetime=20) as src:
        src.route(
            "GET",
            r"^/v2/lab/app/tags/list$",
            lambda r: r.send_json(200, {"tags": ["v1", "../../etc", "esc\x1b[2J"]}),
        )
        pool = ClientPool(Credentials())
        fleet = FleetContext(redis=redis_client, pool=pool, dispatch=dispatch, limits={})
        rule = parse_rule(f"{src.host}/lab/app", "dst.example/mirror/app", environ={})
        plan = fleet.plans.create({})
        fleet.plans.bump(plan, rules_pending=1)
        assert tagsteps.expand(fleet, ExpandRule(plan, rule.to_dict())) == 1
        pool.close()
    assert [kw["source"] for _, kw, _ in dispatch.sent] == [f"{src.host}/lab/app:v1"]
    status = fleet.plans.status(plan)
    assert status.counters["tags_total"] == 3 and status.counters["tags_failed"] == 2
    assert sorted(r.source for r in status.results) == [
        f"{src.host}/lab/app:../../etc",
        f"{src.host}/lab/app:esc\\x1b[2J",
    ]
    assert not src.requests(path="/manifests/")


def _resolved(dest: str, *descs: Descriptor) -> Resolved:
    job = TagJob(ImageRef.parse("src.example/lab/app:v1"), ImageRef.parse(dest), "r")
    return Resolved(job, blobs={d.digest: d for d in descs})


def test_cached_blobs_count_once_and_the_others_are_missing(redis_client: redis.Redis) -> None:
    fleet = fleet_context(redis_client, Recorder())
    a, b, c = (Descriptor("m", f"sha256:{i:064x}", 100 * i) for i in (1, 2, 3))
    for desc in (a, b):
        fleet.cache.add("dst.example", "mirror/app", desc.digest)
    fleet.cache.add("dst.example", "mirror/other", a.digest)
    first = tagsteps._missing_blobs(fleet, PLAN, _resolved("dst.example/mirror/app:v1", a, b, c))
    again = tagsteps._missing_blobs(fleet, PLAN, _resolved("dst.example/mirror/app:v2", a, c))
    assert first == {blob_key("dst.example/mirror/app", c.digest): c} and again == {
        blob_key("dst.example/mirror/app", c.digest): c
    }
    counters = fleet.plans.status(PLAN).counters
    assert counters["bytes_total"] == 600 and counters["bytes_skipped"] == 300
    assert counters["blobs_total"] == 2 and counters["blobs_skipped"] == 2
    # Another repository of the same registry: a blob of its own, bytes already counted.
    other = tagsteps._missing_blobs(fleet, PLAN, _resolved("dst.example/mirror/other:v1", a))
    counters = fleet.plans.status(PLAN).counters
    assert other == {} and counters["bytes_skipped"] == 300
    assert counters["blobs_total"] == 3 and counters["blobs_skipped"] == 3
