"""``syncer probe worker|beat`` against real worker and beat processes: the Kubernetes probes.

A worker is alive from its first heartbeat until its warm shutdown takes it
off the roster; a beat from when it takes redbeat's lock until it stops. The
probe logic itself is unit-tested in ``tests/unit/cli/test_probe.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fleet.test_beat import BeatProcess
from tests.support.processes import CliRun, RunCli, WorkerFactory, fleet_env
from tests.support.scenario import write_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _until(syncer_cli: RunCli, code: int, *args: str, timeout: float = 30.0) -> CliRun:
    """Run ``syncer probe ARGS`` until it exits ``code``; else fail with the last run."""
    deadline = time.monotonic() + timeout
    while True:
        run = syncer_cli("probe", *args, timeout=15)
        if run.code == code or time.monotonic() > deadline:
            assert run.code == code, run
            return run
        time.sleep(0.5)


def test_a_worker_is_alive_from_its_first_heartbeat_until_it_stops(
    workers: WorkerFactory, syncer_cli: RunCli, fleet_home: Path
) -> None:
    assert syncer_cli("probe", "worker", "--node", "nobody@nowhere").code == 1
    auth = write_json(fleet_home / "auth.json", {})
    [worker] = workers(1, auth=auth)
    alive = _until(syncer_cli, 0, "worker", "--node", worker.node)
    assert alive.out.strip() == f"probe worker: worker {worker.node} is alive", alive
    worker.stop()
    gone = _until(syncer_cli, 1, "worker", "--node", worker.node)
    assert "no heartbeat from" in gone.out, gone


def test_a_beat_is_alive_while_it_holds_the_lock(
    redis_server: str, syncer_cli: RunCli, fleet_home: Path
) -> None:
    assert syncer_cli("probe", "beat").code == 1
    beat = BeatProcess(fleet_env(redis_server, fleet_home), fleet_home / "beat.log")
    beat.start()
    try:
        beat.wait_ready()
        _until(syncer_cli, 0, "beat")
    finally:
        beat.stop()
    # A beat stopped warmly releases the lock: the next probe fails at once.
    run = syncer_cli("probe", "beat")
    assert run.code == 1 and "no beat holds the lock" in run.out, run
