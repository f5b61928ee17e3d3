"""The workers' roster: heartbeats in Redis, the planner's credential preflight, "no worker alive".

Pure logic first, then the roster on a real ``redis-server``, then real
``syncer worker`` and ``syncer plan`` processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from syncer import defaults
from syncer.credentials import AuthEntry, covering_key
from syncer.fleet import keys
from syncer.fleet.roster import (
    Roster,
    WorkerInfo,
    credential_keys,
    uncovered,
)
from syncer.reference import Repository
from syncer.rules import Destination, Rule
from tests.support.processes import REPO_ROOT, RunCli, WorkerFactory, fleet_env
from tests.support.registries import LabRegistry
from tests.support.scenario import redis_dump, write_json

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
    ancient = WorkerInfo("w3", (), time.time() - defaults.FORGET_AFTER - 60)
    redis_client.hset(keys.roster(), "w3", json.dumps(ancient.to_dict()))
    redis_client.hset(keys.roster(), "junk", b"not json")
    assert [w.node for w in roster.alive()] == ["w1"]
    assert set(redis_client.hkeys(keys.roster())) == {b"w1"}


def _auth(fleet_home: Path, name: str, hosts: dict[str, AuthEntry | None]) -> Path:
    data = {
        h: {"username": e.username, "password": e.password} if e else {"insecure": True}
        for h, e in hosts.items()
    }
    return write_json(fleet_home / name, data)


@pytest.mark.integration
def test_the_planner_refuses_credentials_no_live_worker_has(
    workers: WorkerFactory, syncer_cli: RunCli, fleet_home: Path, redis_client: redis.Redis
) -> None:
    worker_auth = _auth(fleet_home, "worker-auth.json", {"src.example": LOGIN})
    planner_auth = _auth(
        fleet_home, "planner-auth.json", {"src.example": LOGIN, "dst.example": LOGIN}
    )
    images = write_json(fleet_home / "images.json", {"src.example/a/b:v1": "dst.example/m/b"})
    workers(1, auth=worker_auth)
    deadline = time.monotonic() + 15
    while not Roster(redis_client).alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    dump = redis_dump(redis_client)
    assert "src.example" in dump and LOGIN.password not in dump and "alice" not in dump

    refused = syncer_cli("plan", "--auth", planner_auth, "--images", images)
    assert refused.code == 2, refused
    line = refused.err.strip().splitlines()[-1]
    assert line.startswith("syncer: error: registry dst.example:"), refused.err
    assert "--auth FILE" in line and "--no-credential-check" in line
    assert not redis_client.keys("syncer:plan:*"), "nothing was planned"

    forced = syncer_cli("plan", "--auth", planner_auth, "--images", images, "--no-credential-check")
    assert forced.code == 0, forced
    assert "warning: registry dst.example" in forced.err


@pytest.mark.integration
def test_plan_wait_says_when_no_worker_consumes_and_finishes_when_one_starts(
    workers: WorkerFactory, redis_server: str, fleet_home: Path, source: LabRegistry
) -> None:
    # An empty source: the image fails at once (manifest unknown), so the plan ends quickly.
    images = write_json(fleet_home / "images.json", {f"{source.host}/a/b:v1": f"{source.host}/m/b"})
    auth = write_json(fleet_home / "auth.json", {source.host: {"insecure": True}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "plan", "--images", str(images), "--wait"],
        cwd=REPO_ROOT,
        env=fleet_env(redis_server, fleet_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        started, seen = time.monotonic(), ""
        while "no worker is consuming" not in seen and time.monotonic() - started < 15:
            seen += proc.stderr.readline()
        said_after = time.monotonic() - started
        assert "no worker is consuming queue 'celery'" in seen, seen
        assert "syncer worker" in seen and proc.poll() is None
        workers(1, auth=auth)
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert said_after < 10, said_after
    # The one image fails (the source has no such image), but the plan ends and says so.
    assert proc.returncode == 1, (out, err)
