"""``plan --verify`` and ``plan --prune`` on real workers, Redis and registries."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lab.images import ImageSet
from syncer.fleet.protocol import settings
from tests.fleet.test_upgrade import REQUEUED, OlderWorker
from tests.support.embedded import seed
from tests.support.mirror import by_dest, config_file, put_as, remove, tags
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import PLAN_TIMEOUT

pytestmark = pytest.mark.integration


def _mirror(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, home: Path, syncer_cli: RunCli
) -> Path:
    seed(source, image_set, "lab/app0:v1", "lab/app0:v2", "lab/app1:v1", "lab/multi:list")
    s, d = source.host, dest.host
    images = {
        f"{s}/lab/app0": f"{d}/mirror/app0",
        f"{s}/lab/app1:/^v/": f"{d}/mirror/app1",
        f"{s}/lab/multi:list": f"{d}/mirror/multi",
    }
    config = config_file(home / "config.yaml", images, source, dest)
    assert syncer_cli("sync", "--config", config, "--cache", "none").code == 0
    return config


def test_plan_verify_checks_on_the_workers_as_verify_does(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    fleet_home: Path,
    syncer_cli: RunCli,
    workers: WorkerFactory,
) -> None:
    config = _mirror(source, dest, image_set, fleet_home, syncer_cli)
    workers(2, auth=config)
    clean = syncer_cli("plan", "--verify", "--config", config, timeout=PLAN_TIMEOUT)
    assert clean.code == 0, clean
    assert "4 same, 0 missing" in clean.out
    v1, v2 = image_set.get("lab/app0", "v1"), image_set.get("lab/app0", "v2")
    put_as(dest, v1, "mirror/app0", "v2")
    put_as(dest, v2, "mirror/app1", "v7")
    remove(dest, "mirror/multi", "list")
    args = ("--config", config, "--output", "json")
    fleet = syncer_cli("plan", "--verify", *args, timeout=PLAN_TIMEOUT)
    embedded = syncer_cli("verify", *args)
    assert fleet.code == embedded.code == 1, fleet
    assert fleet.json == embedded.json
    found = by_dest(fleet.json["checks"])
    assert found["mirror/app0:v2"]["status"] == "different"
    assert found["mirror/app1:v7"]["status"] == "extra"
    assert found["mirror/app1:v7"]["prune"] == "delete"
    assert found["mirror/multi:list"]["status"] == "missing"


def test_plan_prune_deletes_on_the_workers_within_prune_max(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    fleet_home: Path,
    syncer_cli: RunCli,
    workers: WorkerFactory,
) -> None:
    config = _mirror(source, dest, image_set, fleet_home, syncer_cli)
    workers(2, auth=config)
    other, v1 = image_set.get("lab/app2", "v1"), image_set.get("lab/app0", "v1")
    put_as(dest, other, "mirror/app0", "gone")
    put_as(dest, v1, "mirror/app0", "alias")
    put_as(dest, other, "mirror/app1", "v9")
    put_as(dest, other, "mirror/multi", "stale")
    args = ("plan", "--config", config, "--prune", "--wait")
    refused = syncer_cli(*args, "--prune-max", "1", timeout=PLAN_TIMEOUT)
    assert refused.code == 1, refused
    assert "3 tags would be deleted, more than --prune-max 1" in refused.err
    assert tags(dest, "mirror/app0") == ["alias", "gone", "v1", "v2"]
    run = syncer_cli(*args, timeout=PLAN_TIMEOUT)
    assert run.code == 0, run
    assert f"kept {dest.host}/mirror/app0:alias" in run.err
    assert tags(dest, "mirror/app0") == ["alias", "v1", "v2"]
    assert tags(dest, "mirror/app1") == ["v1"]
    assert tags(dest, "mirror/multi") == ["list", "stale"]


def test_an_older_worker_hands_verify_tasks_back_for_a_newer_one(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    fleet_home: Path,
    syncer_cli: RunCli,
    workers: WorkerFactory,
    older_worker: OlderWorker,
) -> None:
    config = _mirror(source, dest, image_set, fleet_home, syncer_cli)
    older = older_worker(config)
    with ThreadPoolExecutor(1) as ex:
        pending = ex.submit(syncer_cli, "plan", "--verify", "--config", config, timeout=120)
        older.wait_for_log(re.escape(REQUEUED.format(name=settings.VERIFY_RULE)))
        assert not pending.done()  # nobody can run the plan yet
        workers(1, auth=config)
        run = pending.result(timeout=120)
    assert run.code == 0, run
    assert "4 same" in run.out
