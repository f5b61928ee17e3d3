"""How ``sync_tag`` and ``sync_tags`` hand out missing blobs, against a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from syncer import defaults
from syncer.config.ruleparse import parse_rule
from syncer.engine.copypath import Resolved
from syncer.engine.jobs import TagJob
from syncer.errors import CancelledError, ConfigError, ServerError, StateError
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.keys import blob_key
from syncer.fleet.protocol.messages import ExpandRule
from syncer.fleet.steps import tagsteps
from syncer.fleet.steps.context import FleetContext
from syncer.oci.manifest import Descriptor
from syncer.oci.reference import ImageRef
from syncer.registry.credentials import Credentials
from syncer.registry.pool import ClientPool
from tests.support.dispatch import (
    JOB,
    MIB,
    PLAN,
    Recorder,
    fleet_context,
    missing_blobs,
    tag_job,
)
from tests.support.hostile import HostileRegistry


def _hand_out(fleet: FleetContext, missing: dict[str, Descriptor], owner: str) -> None:
    tagsteps._hand_out_copies(fleet, PLAN, JOB.source.repo, JOB.dest.repo, missing, owner)


def test_large_blobs_first_then_one_batch_of_the_small_ones(redis_client: redis.Redis) -> None:
    dispatch = Recorder()
    missing = missing_blobs(1 * MIB, 100 * MIB, 3 * MIB, 5 * MIB, 2000)

    _hand_out(fleet_context(redis_client, dispatch), missing, "task-1")

    names = [name for name, _, _ in dispatch.sent]
    assert names == [settings.COPY_BLOB, settings.COPY_BLOB, settings.COPY_BLOBS]
    assert [kw["size"] for _, kw, _ in dispatch.sent[:2]] == [100 * MIB, 5 * MIB]
    assert dispatch.sent[0][2] == settings.blob_priority(100 * MIB) < defaults.BATCH_PRIORITY
    _, batch, priority = dispatch.sent[2]
    assert priority == defaults.BATCH_PRIORITY
    assert [b["size"] for b in batch["blobs"]] == [3 * MIB, 1 * MIB, 2000]
    assert batch["src"] == "src.example/lab/app" and batch["dst"] == "dst.example/mirror/app"


def test_small_blobs_past_the_byte_budget_start_another_batch(redis_client: redis.Redis) -> None:
    dispatch = Recorder()
    count = defaults.BATCH_BYTES // MIB + 4

    _hand_out(fleet_context(redis_client, dispatch), missing_blobs(*[MIB] * count), "task-1")

    assert dispatch.names == [settings.COPY_BLOBS] * 2
    sizes = [len(kw["blobs"]) for _, kw, _ in dispatch.sent]
    assert sizes == [defaults.BATCH_BYTES // MIB, 4]


def test_batching_can_be_turned_off(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCER_BATCH_BLOB", "0")
    dispatch = Recorder()

    _hand_out(fleet_context(redis_client, dispatch), missing_blobs(MIB, 9, 0), "t")

    assert [name for name, _, _ in dispatch.sent] == [settings.COPY_BLOB] * 3


def test_claims_are_given_back_when_publishing_fails(redis_client: redis.Redis) -> None:
    missing = missing_blobs(100 * MIB, MIB, MIB)
    fleet = fleet_context(redis_client, Recorder(fail_on=(settings.COPY_BLOBS,)))

    with pytest.raises(ConnectionError):
        _hand_out(fleet, missing, "task-1")

    big, *small = missing
    # The large copy was published: its claim stands. The batch was not: a
    # retry (or another image's task) may claim and enqueue those blobs.
    assert fleet.board.claim_blob(PLAN, big, "task-2") is False
    assert all(fleet.board.claim_blob(PLAN, key, "task-2") for key in small)


def test_a_redelivered_task_hands_its_blobs_out_again(redis_client: redis.Redis) -> None:
    missing = missing_blobs(100 * MIB, MIB)
    first, again, other = Recorder(), Recorder(), Recorder()

    _hand_out(fleet_context(redis_client, first), missing, "task-1")
    _hand_out(fleet_context(redis_client, again), missing, "task-1")
    _hand_out(fleet_context(redis_client, other), missing, "task-9")

    assert [n for n, _, _ in again.sent] == [n for n, _, _ in first.sent]
    assert other.sent == []  # another image's task leaves them to their owner


def test_a_batch_carries_at_most_its_blob_count(redis_client: redis.Redis) -> None:
    dispatch = Recorder()
    count = defaults.BATCH_COUNT + 10

    _hand_out(fleet_context(redis_client, dispatch), missing_blobs(*[100] * count), "task-1")

    assert dispatch.names == [settings.COPY_BLOBS] * 2
    assert [len(kw["blobs"]) for _, kw, _ in dispatch.sent] == [defaults.BATCH_COUNT, 10]


class FailOnce(Recorder):
    """Fails the first send of ``name``, then records like :class:`Recorder`."""

    def __init__(self, name: str) -> None:
        super().__init__(fail_on=(name,))

    def send(self, name: str, kwargs: dict[str, Any], priority: int | None = None) -> None:
        try:
            super().send(name, kwargs, priority)
        finally:
            if name in self.fail_on:
                self.fail_on = ()


def test_a_failure_mid_hand_out_gives_back_every_unpublished_claim(
    redis_client: redis.Redis,
) -> None:
    # 100 MiB goes alone; 4+4+4+3 MiB fill a batch, whose publish fails while the
    # last 3 MiB blob is claimed but not yet in a published batch either.
    missing = missing_blobs(100 * MIB, 4 * MIB, 4 * MIB, 4 * MIB, 3 * MIB, 3 * MIB)
    dispatch = FailOnce(settings.COPY_BLOBS)
    fleet = fleet_context(redis_client, dispatch)

    with pytest.raises(ConnectionError):
        _hand_out(fleet, missing, "task-1")
    # Whoever comes next (the retry, or another image's task) can enqueue them all.
    _hand_out(fleet, missing, "task-2")

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
    assert [job["source"] for _, kw, _ in dispatch.sent for job in kw["jobs"]] == [
        f"{src.host}/lab/app:v1"
    ]
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
    plan = fleet.plans.create({}, rules_pending=1)  # counted only in a running plan
    a, b, c = (Descriptor("m", f"sha256:{i:064x}", 100 * i) for i in (1, 2, 3))
    for desc in (a, b):
        fleet.cache.add("dst.example", "mirror/app", desc.digest)
    fleet.cache.add("dst.example", "mirror/other", a.digest)
    first = tagsteps._missing_blobs(fleet, plan, _resolved("dst.example/mirror/app:v1", a, b, c))
    again = tagsteps._missing_blobs(fleet, plan, _resolved("dst.example/mirror/app:v2", a, c))
    assert first == {blob_key("dst.example/mirror/app", c.digest): c} and again == {
        blob_key("dst.example/mirror/app", c.digest): c
    }
    counters = fleet.plans.status(plan).counters
    assert counters["bytes_total"] == 600 and counters["bytes_skipped"] == 300
    assert counters["blobs_total"] == 2 and counters["blobs_skipped"] == 2
    # Another repository of the same registry: a blob of its own, bytes already counted.
    other = tagsteps._missing_blobs(fleet, plan, _resolved("dst.example/mirror/other:v1", a))
    counters = fleet.plans.status(plan).counters
    assert other == {} and counters["bytes_skipped"] == 300
    assert counters["blobs_total"] == 3 and counters["blobs_skipped"] == 3


def _small(i: int) -> Descriptor:
    return Descriptor("m", f"sha256:{i:064x}", 1000 + i)


def _resolving(
    monkeypatch: pytest.MonkeyPatch, blobs: dict[str, list[Descriptor]], fail: dict[str, Exception]
) -> None:
    """``tagsteps.resolve`` answers from ``blobs`` by tag, or raises ``fail[tag]``."""

    def fake(job: TagJob, pool: object, **kwargs: object) -> Resolved:
        if job.source.tag in fail:
            raise fail[job.source.tag]
        return Resolved(job, blobs={d.digest: d for d in blobs[job.source.tag]})

    monkeypatch.setattr(tagsteps, "resolve", fake)


def test_sync_tags_hands_out_the_small_blobs_of_all_its_images_as_one_batch(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, big = _small(1), Descriptor("m", "sha256:" + "b" * 64, 100 * MIB)
    blobs = {"v1": [shared, _small(2)], "v2": [shared, _small(3), big], "v3": [shared, _small(4)]}
    _resolving(monkeypatch, blobs, {})
    dispatch = Recorder()
    fleet = fleet_context(redis_client, dispatch)
    plan = fleet.plans.create({})

    outcomes, errors = tagsteps.sync_tags(fleet, plan, [tag_job(t) for t in blobs], "batch-1")

    assert errors == [] and outcomes == {"waiting": 3}
    assert dispatch.names == [settings.COPY_BLOB, settings.COPY_BLOBS]
    [batch] = [kw["blobs"] for name, kw, _ in dispatch.sent if name == settings.COPY_BLOBS]
    # The shared blob is claimed and copied once, for all three images.
    assert sorted(b["digest"] for b in batch) == sorted(_small(i).digest for i in (1, 2, 3, 4))
    assert fleet.plans.status(plan).counters["blobs_total"] == 5


def test_sync_tags_returns_a_failed_image_and_finishes_the_others(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = ServerError("503 from src.example", status=503)
    _resolving(monkeypatch, {"v1": [_small(1)], "v3": [_small(3)]}, {"v2": down})
    dispatch = Recorder()
    fleet = fleet_context(redis_client, dispatch)
    plan = fleet.plans.create({})
    jobs = [tag_job("v1"), tag_job("v2"), tag_job("v3")]

    outcomes, errors = tagsteps.sync_tags(fleet, plan, jobs, "batch-1")

    assert outcomes == {"waiting": 2} and errors == [(jobs[1], down)]
    [batch] = [kw["blobs"] for _, kw, _ in dispatch.sent]
    assert {b["digest"] for b in batch} == {_small(1).digest, _small(3).digest}


def test_a_cancellation_ends_the_whole_batch(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolving(monkeypatch, {"v1": [_small(1)]}, {"v2": CancelledError("plan cancelled")})
    dispatch = Recorder()
    fleet = fleet_context(redis_client, dispatch)

    with pytest.raises(CancelledError):
        tagsteps.sync_tags(fleet, fleet.plans.create({}), [tag_job("v1"), tag_job("v2")], "b")
    assert dispatch.sent == []


@pytest.mark.parametrize(
    ("error", "pushed_by_task", "failed"),
    [
        (ServerError("503 from dst.example", status=503), True, False),
        (ConfigError("dst.example: push refused for good"), False, True),
    ],
    ids=["may-heal", "permanent"],
)
def test_a_push_here_that_fails_goes_to_a_push_task_or_fails_the_image(
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    pushed_by_task: bool,
    failed: bool,
) -> None:
    dispatch = Recorder()
    fleet = fleet_context(redis_client, dispatch)
    plan = fleet.plans.create({}, images=1)
    fleet.board.save_image(plan, "img-1", {"job": JOB.to_dict()})

    def push(*args: Any, **kwargs: Any) -> str:
        raise error

    monkeypatch.setattr(tagsteps, "push_image", push)
    outcome = tagsteps.push_here(fleet, plan, "img-1")

    assert (dispatch.names == [settings.PUSH_IMAGE]) is pushed_by_task
    if pushed_by_task:  # named for people reading Flower
        assert dispatch.sent[0][1]["dest"] == str(JOB.dest)
    status = fleet.plans.status(plan)
    assert (status.counters["tags_failed"] == 1) is failed
    assert outcome == ("handed on" if pushed_by_task else "failed")
    if failed:
        assert [r.reason for r in status.results] == [str(error)]


def test_a_push_here_that_loses_redis_raises_for_the_task_to_retry(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_context(redis_client, Recorder())

    def push(*args: Any, **kwargs: Any) -> str:
        raise StateError("fleet state unavailable: ConnectionError")

    monkeypatch.setattr(tagsteps, "push_image", push)
    with pytest.raises(StateError):
        tagsteps.push_here(fleet, PLAN, "img-1")
