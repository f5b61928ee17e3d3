"""What an operator meets at the edges of the fleet commands: bad Redis URLs and Ctrl-C.

``syncer plan --wait`` and ``syncer status -f`` run as real subprocesses on a
real Redis with no worker, so the plan stays pending while the test
interrupts the command that follows it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from syncer.fleet.settings import redis_url_problem
from tests.support.faults import wait_for
from tests.support.processes import REPO_ROOT, fleet_env, run_cli
from tests.support.scenario import write_json


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("localhost:6379", "URL has no scheme: use redis://host:6379/0"),
        ("http://localhost:6379/0", "unknown scheme 'http'"),
        ("redis://localhost:port/0", "invalid port"),
        ("redis://localhost:6379/zero", "database must be a number"),
        ("redis:///0", "URL has no host"),
        ("unix://", "no socket path"),
    ],
)
def test_a_bad_redis_url_is_named(url: str, words: str) -> None:
    assert words in redis_url_problem(url)


@pytest.mark.parametrize(
    "url", ["redis://localhost:6379/0", "rediss://:pw@h.example:6380/2", "unix:///run/r.sock"]
)
def test_good_redis_urls_pass(url: str) -> None:
    assert redis_url_problem(url) == ""


@pytest.mark.parametrize("command", [["status", "someplan"], ["worker"], ["cancel", "x"]])
def test_the_cli_refuses_a_bad_url_in_one_line(command: list[str], tmp_path: Path) -> None:
    env = fleet_env("localhost:6379", tmp_path)
    run = run_cli([*command, "--redis", "user:secret@localhost:6379"], env, timeout=30)
    assert run.code == 2, run
    assert run.err.count("\n") == 1 and "URL has no scheme" in run.err, run.err
    assert "secret" not in run.err and "Traceback" not in run.err


@pytest.mark.integration
@pytest.mark.parametrize("follow", ["plan", "status"])
def test_ctrl_c_stops_following_but_not_the_plan(
    follow: str, redis_server: str, fleet_home: Path
) -> None:
    env = fleet_env(redis_server, fleet_home)
    images = write_json(fleet_home / "images.json", {"src.example:5000/a/b:v1": "dst.example/a/b"})
    planned = run_cli(["plan", "--images", images], env, timeout=30)
    assert planned.code == 0, planned
    plan = planned.out.strip()
    argv = (
        ["plan", "--images", str(images), "--wait"] if follow == "plan" else ["status", plan, "-f"]
    )
    err_path = fleet_home / "follow.err"
    with open(err_path, "w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer", *argv],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
        )
    try:
        # Into the follow loop, whatever the machine's pace: no worker runs, so
        # the loop says so (a fixed sleep once sent SIGINT while a loaded
        # machine was still importing, and the traceback failed the test).
        wait_for(
            "the follow loop",
            lambda: "no worker is consuming" in err_path.read_text() or proc.poll() is not None,
            timeout=60,
        )
        assert proc.poll() is None, (proc.communicate(), err_path.read_text())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        err = err_path.read_text()
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "keeps running" in err
    match = re.search(r"stopped following plan (\S+);", err)
    assert match, err
    followed = match.group(1)
    if follow == "status":
        assert followed == plan
    assert f"syncer status {followed} -f" in err and f"syncer cancel {followed}" in err, err
    status = run_cli(["status", followed], env, timeout=30)
    assert status.code == 0 and f"plan {followed}: running" in status.out, status
