"""The roster with real processes: the planner's credential preflight, and "no worker alive".

The roster's own logic is unit-tested in ``tests/unit/fleet/test_roster.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from syncer.fleet.state.roster import Roster
from syncer.registry.credentials import AuthEntry
from tests.support.processes import REPO_ROOT, RunCli, WorkerFactory, fleet_env
from tests.support.registries import LabRegistry
from tests.support.scenario import redis_dump, write_json
from tests.support.waiting import wait_for

LOGIN = AuthEntry("alice", "pa55-w0rd")


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
    wait_for("a worker in the roster", Roster(redis_client).alive, timeout=15, interval=0.2)
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
