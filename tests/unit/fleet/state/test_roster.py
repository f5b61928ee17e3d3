"""The workers' roster: credential keys, heartbeats in Redis (on a real ``redis-server``).

Real ``syncer worker`` and ``syncer plan`` processes meet it in
``tests/fleet/test_roster_workers.py``.
"""

from __future__ import annotations

import json
import time

import pytest
import redis

from syncer.config.rules import Destination, Rule
from syncer.fleet.protocol import keys
from syncer.fleet.state.roster import (
    FORGET_AFTER,
    Roster,
    WorkerInfo,
    credential_keys,
    uncovered,
)
from syncer.oci.reference import Repository
from syncer.registry.credentials import AuthEntry, covering_key

LOGIN = AuthEntry("alice", "pa55-w0rd")


def _rule(src: str, *dsts: str) -> Rule:
    return Rule(
        src + ":v1",
        Repository.parse(src),
        "tags",
        tags=("v1",),
        destinations=tuple(Destination(Repository.parse(d)) for d in dsts),
    )


def test_covering_key_matches_on_path_component_boundaries() -> None:
    repo = Repository.parse("quay.io/coreos/proxy")
    assert covering_key(["quay.io"], repo) == "quay.io"
    assert covering_key(["quay.io", "quay.io/coreos"], repo) == "quay.io/coreos"
    assert covering_key(["quay.io/core"], repo) is None
    assert covering_key(["quay.io/coreos/proxy"], repo) == "quay.io/coreos/proxy"


def test_only_credentialed_keys_are_published() -> None:
    entries = {"a.io": LOGIN, "b.io": AuthEntry(None, None, insecure=True)}
    assert credential_keys(entries) == ("a.io",)


def test_uncovered_names_each_login_no_worker_has() -> None:
    rules = [_rule("src.io/team/app", "dst.io/mirror/app"), _rule("pub.io/x/y", "dst.io/m/y")]
    planner = {"src.io": LOGIN, "dst.io/mirror": LOGIN}
    covered = [WorkerInfo("w1", ("src.io", "dst.io"), 0.0)]
    assert uncovered(rules, planner, covered) == []
    partial = [WorkerInfo("w1", ("src.io",), 0.0), WorkerInfo("w2", ("other.io",), 0.0)]
    gaps = uncovered(rules, planner, partial)
    assert [(g.key, str(g.repo)) for g in gaps] == [("dst.io/mirror", "dst.io/mirror/app")]
    assert "dst.io" in str(gaps[0]) and "pa55" not in str(gaps[0])
    # A registry the planner has no login for is not the planner's to judge.
    assert uncovered(rules, {}, partial) == []


def test_worker_info_round_trips() -> None:
    info = WorkerInfo("w1@h", ("a.io", "b.io/ns"), 12.5)
    assert WorkerInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


@pytest.mark.integration
def test_the_roster_counts_recent_beats_and_forgets_old_ones(redis_client: redis.Redis) -> None:
    roster = Roster(redis_client)
    roster.beat("w1", ["a.io"])
    roster.beat("w2", [])
    assert [w.node for w in roster.alive()] == ["w1", "w2"]
    assert roster.alive()[0].auth == ("a.io",)
    roster.leave("w2")
    ancient = WorkerInfo("w3", (), time.time() - FORGET_AFTER - 60)
    redis_client.hset(keys.roster(), "w3", json.dumps(ancient.to_dict()))
    redis_client.hset(keys.roster(), "junk", b"not json")
    assert [w.node for w in roster.alive()] == ["w1"]
    assert set(redis_client.hkeys(keys.roster())) == {b"w1"}
