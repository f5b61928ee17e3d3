"""The fleet's verify and prune steps (fleet.steps.verifysteps): counted once, settled always."""

from __future__ import annotations

import pytest
import redis

from syncer.config.rules import parse_rule
from syncer.fleet.state.checks import CheckStore
from syncer.fleet.steps.verifysteps import rule_failed, tags_failed
from tests.support.dispatch import Recorder, fleet_context

pytestmark = pytest.mark.integration

RULE = parse_rule("src.example/lab/a", ["dst.example/m/a", "dst.example/n/a"], environ={})


def test_a_failed_verify_rule_is_one_unreadable_row_per_destination_once(
    redis_client: redis.Redis,
) -> None:
    fleet = fleet_context(redis_client, Recorder())
    plan = fleet.plans.create({"verify": True})
    fleet.plans.bump(plan, rules_pending=1)
    for _ in range(2):  # a redelivery changes nothing
        rule_failed(fleet, plan, RULE.to_dict(), False, "internal error: KeyError")
    rows = CheckStore(redis_client, 60).checks(plan)
    assert [(r.status, r.dest) for r in rows] == [
        ("unreadable", "dst.example/m/a"),
        ("unreadable", "dst.example/n/a"),
    ]
    counters = fleet.plans.status(plan).counters
    assert (counters["tags_total"], counters["tags_done"], counters["rules_pending"]) == (2, 2, 0)
    assert fleet.plans.finished(plan)


def test_a_failed_prune_rule_hands_in_nothing_so_the_others_still_prune(
    redis_client: redis.Redis,
) -> None:
    fleet = fleet_context(redis_client, Recorder())
    plan = fleet.plans.create({"prune_max": 5})
    fleet.plans.bump(plan, rules_pending=1)
    checks = CheckStore(redis_client, 60)
    checks.expect_pruning(plan, 2)
    rule_failed(fleet, plan, RULE.to_dict(), True, "boom")
    rule_failed(fleet, plan, RULE.to_dict(), True, "boom")
    assert checks.pruning(plan) == 1
    assert fleet.plans.status(plan).counters["rules_pending"] == 0
    assert checks.checks(plan) == []  # a prune plan's rows are its deletions only


def test_a_failed_verify_batch_records_each_image_once(redis_client: redis.Redis) -> None:
    fleet = fleet_context(redis_client, Recorder())
    plan = fleet.plans.create({"verify": True})
    jobs = [{"source": f"s/a:{t}", "dest": f"d/a:{t}", "rule": "r"} for t in ("1", "2")]
    tags_failed(fleet, plan, jobs, "gone")
    tags_failed(fleet, plan, jobs, "gone")
    assert [r.source for r in CheckStore(redis_client, 60).checks(plan)] == ["s/a:1", "s/a:2"]
    assert fleet.plans.status(plan).counters["tags_done"] == 2
