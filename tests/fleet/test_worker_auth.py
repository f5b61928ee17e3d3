"""A worker's auth file: refused at start when unreadable, reloaded when edited, reported when gone.

Real ``syncer worker`` processes on a real Redis, a real Basic-auth
``docker-registry`` as the destination, and ``syncer plan --wait`` as the
operator runs it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from lab.images import build_image_set
from syncer.fleet.state.roster import Roster
from tests.support.processes import RunCli, WorkerFactory, fleet_env, run_cli
from tests.support.registries import LabRegistry
from tests.support.scenario import plan_wait, seed, write_json
from tests.support.verify import RegistryReader
from tests.support.waiting import wait_for
from workers.context import AUTH_RECHECK

pytestmark = pytest.mark.integration


def _auth(source: LabRegistry, dest: LabRegistry, password: str) -> dict[str, Any]:
    return {
        source.host: {"insecure": True},
        dest.host: {"insecure": True, "username": dest.username, "password": password},
    }


def _wait_for_key(
    client: redis.Redis, node: str, key: str, timeout: float = 15.0, *, held: bool = True
) -> None:
    """Until ``node``'s heartbeat lists ``key`` among its credentialed auth keys (or no longer)."""
    wait_for(
        f"{node} to report {'' if held else 'no '}credentials for {key}",
        lambda: any(w.node == node and (key in w.auth) == held for w in Roster(client).alive()),
        timeout,
        interval=0.2,
    )


def test_a_worker_refuses_to_start_without_its_auth_file(
    redis_server: str, fleet_home: Path
) -> None:
    missing = fleet_home / "nowhere" / "auth.yaml"
    run = run_cli(
        ["worker", "--auth", missing, "-n", "refused@fleet"],
        fleet_env(redis_server, fleet_home),
        timeout=60,
    )
    assert run.code == 2, run
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert str(missing) in lines[0] and "auth file" in lines[0], lines[0]
    assert "Traceback" not in run.err and "ready" not in run.out + run.err


def test_an_edited_auth_file_takes_effect_and_a_removed_one_fails_the_plan(
    source: LabRegistry,
    basic_registry: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
) -> None:
    dest = basic_registry
    assert dest.password is not None
    images = seed(source, build_image_set(5, repos=1, tags_per_repo=1, large_layer_size=0).images)
    image = images[0]
    no_login = {source.host: {"insecure": True}, dest.host: {"insecure": True}}
    auth = write_json(fleet_home / "auth.json", no_login)
    rules = write_json(
        fleet_home / "images.json",
        {f"{source.host}/{image.repo}:{image.tag}": f"{dest.host}/mirror/app"},
    )
    [worker] = workers(1, auth=auth, concurrency=2)

    # No login for the destination: the reason says which worker, and that it has none.
    anonymous = plan_wait(syncer_cli, auth, rules, timeout=90)
    assert anonymous.code == 1, anonymous
    reason = anonymous.json["failed"][0]["reason"]
    assert "401" in reason or "UNAUTHORIZED" in reason, reason
    assert f"[worker {worker.node}: this worker has no credentials for {dest.host}" in reason

    # The wrong password: the worker has credentials, and the reason says so.
    write_json(auth, _auth(source, dest, "wrong-" + dest.password))
    # The planner's credential check reads the workers' heartbeats: let one carry the new key.
    _wait_for_key(redis_client, worker.node, dest.host)
    denied = plan_wait(syncer_cli, auth, rules, timeout=90)
    assert denied.code == 1, denied
    reason = denied.json["failed"][0]["reason"]
    assert f"this worker has credentials for {dest.host} (auth keys: {dest.host})" in reason
    assert dest.password not in denied.out + denied.err

    # The operator fixes the password in place; the running worker picks it up.
    write_json(auth, _auth(source, dest, dest.password))
    # The worker looks at its file at most once every AUTH_RECHECK seconds: a
    # task that starts sooner after the edit may still use the old password.
    time.sleep(AUTH_RECHECK * 1.5)
    fixed = plan_wait(syncer_cli, auth, rules, timeout=90)
    assert fixed.code == 0, fixed
    with RegistryReader(dest.url, auth=dest.auth) as reader:
        assert reader.head_manifest("mirror/app", image.tag)[1] == image.digest

    # The file disappears: the next plan finishes, and says why it failed.
    auth.unlink()
    # The worker looks at its file at most once a second; its heartbeat shows when it has.
    _wait_for_key(redis_client, worker.node, dest.host, held=False)
    rules2 = write_json(
        fleet_home / "images2.json",
        {f"{source.host}/{image.repo}:{image.tag}": f"{dest.host}/mirror/other"},
    )
    gone = plan_wait(
        syncer_cli, write_json(fleet_home / "planner-auth.json", {}), rules2, timeout=90
    )
    assert gone.code == 1, gone
    reason = gone.json["failed"][0]["reason"]
    assert "auth file" in reason and str(auth) in reason, reason
    assert dest.password not in gone.out + gone.err
    print(reason, file=sys.stderr)
