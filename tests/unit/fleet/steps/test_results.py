"""Each image's outcome counted once (syncer.fleet.steps.results), on a real ``redis-server``."""

from __future__ import annotations

import pytest
import redis

from syncer.config.ruleparse import parse_rule
from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol.keys import image_id
from syncer.fleet.steps.context import FleetContext
from syncer.fleet.steps.results import expand_failed, finish, tag_failed
from tests.support.dispatch import Recorder, fleet_context

pytestmark = pytest.mark.integration

SRC, DST = "src.example/lab/a:v1", "dst.example/mirror/a:v1"
IMAGE = image_id(SRC, DST)


def _plan(redis_client: redis.Redis, **counts: int) -> tuple[FleetContext, str]:
    """A worker's context and a new plan with ``counts`` already counted."""
    fleet = fleet_context(redis_client, Recorder())
    plan = fleet.plans.create({})
    fleet.plans.bump(plan, **counts)
    return fleet, plan


def _counters(redis_client: redis.Redis, plan: str) -> dict[str, int]:
    counters = fleet_context(redis_client, Recorder()).plans.status(plan).counters
    return {k: v for k, v in counters.items() if v}


def test_an_image_is_recorded_once_however_often_its_task_runs(redis_client: redis.Redis) -> None:
    fleet, plan = _plan(redis_client, tags_total=1)
    result = ImageResult(SRC, DST, "synced", bytes=3, rule="r1")
    finish(fleet, plan, IMAGE, result)
    finish(fleet, plan, IMAGE, result)  # a redelivered push
    assert fleet.plans.status(plan).results == [result]
    assert _counters(redis_client, plan) == {"tags_total": 1, "tags_done": 1}


def test_a_second_rule_naming_the_image_settles_its_own_count(redis_client: redis.Redis) -> None:
    fleet, plan = _plan(redis_client, tags_total=2)  # two rules each counted the image
    finish(fleet, plan, IMAGE, ImageResult(SRC, DST, "synced", rule="r1"))
    assert not fleet.plans.finished(plan)
    finish(fleet, plan, IMAGE, ImageResult(SRC, DST, "synced", rule="r2"))
    finish(fleet, plan, IMAGE, ImageResult(SRC, DST, "synced", rule="r2"))
    assert len(fleet.plans.status(plan).results) == 1
    assert _counters(redis_client, plan) == {"tags_total": 2, "tags_done": 1, "tags_skipped": 1}
    assert fleet.plans.finished(plan)


def test_a_tag_that_failed_before_its_push_is_recorded_as_given(redis_client: redis.Redis) -> None:
    fleet, plan = _plan(redis_client, tags_total=1)
    tag_failed(fleet, plan, "not a reference", DST, "r1", "bad source")
    tag_failed(fleet, plan, "not a reference", DST, "r1", "bad source")
    (result,) = fleet.plans.status(plan).results
    assert result == ImageResult("not a reference", DST, "failed", "bad source", rule="r1")


def test_a_rule_that_cannot_be_expanded_fails_each_destination_once(
    redis_client: redis.Redis,
) -> None:
    fleet, plan = _plan(redis_client, rules_pending=1)
    rule = parse_rule("src.example/lab/a", ["dst.example/m1/a", "dst.example/m2/a"], environ={})
    expand_failed(fleet, plan, rule.to_dict(), "tags/list: HTTP 500")
    expand_failed(fleet, plan, rule.to_dict(), "tags/list: HTTP 500")
    results = fleet.plans.status(plan).results
    assert [r.dest for r in results] == ["dst.example/m1/a", "dst.example/m2/a"]
    assert {(r.source, r.status, r.reason, r.rule) for r in results} == {
        ("src.example/lab/a", "failed", "tags/list: HTTP 500", "src.example/lab/a")
    }
    assert _counters(redis_client, plan) == {"tags_total": 2, "tags_failed": 2}
    assert fleet.plans.finished(plan)


def test_a_rule_that_does_not_decode_is_one_failure_so_the_plan_ends(
    redis_client: redis.Redis,
) -> None:
    fleet, plan = _plan(redis_client, rules_pending=1)
    expand_failed(fleet, plan, {"key": "src.example/x", "kind": "nonsense"}, "worker says")
    expand_failed(fleet, plan, {"key": "src.example/x", "kind": "nonsense"}, "worker says")
    (result,) = fleet.plans.status(plan).results
    assert (result.source, result.dest, result.status) == ("src.example/x", "", "failed")
    assert _counters(redis_client, plan) == {"tags_total": 1, "tags_failed": 1}
    assert fleet.plans.finished(plan)
