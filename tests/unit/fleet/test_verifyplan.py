"""``plan --verify`` and ``plan --prune`` (fleet.verifyplan, planner): what they send and count."""

from __future__ import annotations

import pytest
import redis

from syncer.config.files import SyncConfig
from syncer.config.rules import BrokenRule, Rule, parse_rule
from syncer.engine.options import SyncOptions
from syncer.fleet.planner import submit
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.messages import VerifyRule
from syncer.fleet.state.checks import CheckStore
from syncer.fleet.state.plans import PlanStore
from syncer.fleet.verifyplan import peers, submit_verify
from tests.support.dispatch import Recorder

pytestmark = pytest.mark.integration

A = parse_rule("src.example/lab/a", "dst.example/m/a", environ={})
B = parse_rule("src.example/lab/b:/^v/", "dst.example/m/a", environ={})
C = parse_rule("src.example/lab/c:v1", "dst.example/m/c", environ={})
BROKEN = BrokenRule("src.example/lab/Bad", ("dst.example/m/x",), "bad name")


def _sent(rec: Recorder) -> list[VerifyRule]:
    return [VerifyRule.from_body(b) for n, b, _ in rec.sent if n == settings.VERIFY_RULE]


def test_peers_are_the_rules_sharing_a_destination_repository() -> None:
    assert peers(A, [A, B, C]) == (B,)
    assert peers(C, [A, B, C]) == ()


def test_a_verify_plan_sends_every_rule_with_its_peers_and_counts_broken_entries(
    redis_client: redis.Redis,
) -> None:
    rec = Recorder()
    config = SyncConfig({}, (A, B, C), {}, (BROKEN,))
    plan = submit_verify(config, SyncOptions(), redis_client, rec, prune_max=7)
    sent = _sent(rec)
    assert [Rule.from_dict(m.rule) for m in sent] == [A, B, C]
    assert [m.prune for m in sent] == [0, 0, 0]
    assert [Rule.from_dict(p) for p in sent[0].peers] == [B]
    store = PlanStore(redis_client)
    assert store.meta(plan)["verify"] is True and store.meta(plan)["prune_max"] == 7
    counters = store.status(plan).counters
    assert (counters["rules_pending"], counters["tags_total"], counters["tags_done"]) == (3, 1, 1)
    [row] = CheckStore(redis_client, 60).checks(plan)
    assert (row.status, row.dest, row.reason) == ("unreadable", "dst.example/m/x", "bad name")


def test_plan_prune_adds_a_pending_prune_task_per_listing_rule(redis_client: redis.Redis) -> None:
    rec = Recorder()
    plan = submit(SyncConfig({}, (A, B, C), {}), SyncOptions(), redis_client, rec, prune=5)
    sent = _sent(rec)
    assert [Rule.from_dict(m.rule) for m in sent] == [A, B]
    assert {m.prune for m in sent} == {1}
    assert CheckStore(redis_client, 60).pruning(plan) == 2
    assert PlanStore(redis_client).meta(plan)["prune_max"] == 5
    # Two expansions and two prunes pending; C's one image counted.
    counters = PlanStore(redis_client).status(plan).counters
    assert (counters["rules_pending"], counters["tags_total"]) == (4, 1)
    plain = submit(SyncConfig({}, (A,), {}), SyncOptions(), redis_client, Recorder())
    assert "prune_max" not in PlanStore(redis_client).meta(plain)
