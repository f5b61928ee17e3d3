"""Rolling upgrades: an older worker requeues what it is too old for, and nothing is lost.

The older worker is :mod:`tests.support.older_worker`: today's code without
the ``copy_blobs`` task and reading ``push_image`` bodies only up to version
0. It runs beside current workers on one Redis, as during a rolling upgrade.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from lab.images import SeedImage
from syncer import defaults
from syncer.fleet.broker import celery_app
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.messages import CopyBlobs, PushImage
from syncer.fleet.state.plans import PlanStore
from tests.support.processes import ManagedProcess, RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, seed_apps, verify_all, write_json
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration

OlderWorker = Callable[..., ManagedProcess]
REQUEUED = "requeueing {name} tasks for a newer worker"
DIGEST = "sha256:" + "ab" * 32


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def _messages_held(client: redis.Redis) -> int:
    """Messages waiting in the queue (every priority list) or handed out and unacknowledged."""
    lists = [k for k in client.scan_iter("celery*") if client.type(k) == b"list"]
    return sum(client.llen(k) for k in lists) + client.hlen("unacked")


def test_an_old_only_fleet_keeps_newer_tasks_queued_and_logs_once(
    older_worker: OlderWorker, redis_server: str, redis_client: redis.Redis, fleet_home: Path
) -> None:
    store = PlanStore(redis_client)
    plan = store.create({"source": "test"})
    blob = {"media_type": "application/octet-stream", "digest": DIGEST, "size": 10}
    unknown = CopyBlobs(plan, "reg.example/lab/a", "reg.example/m/a", (blob,))
    newer = PushImage(plan, "0123456789abcdef", "reg.example/m/a:v1")
    app = celery_app(redis_server)
    ids = [app.send_task(m.TASK, kwargs=m.to_body()).id for m in (unknown, newer)]
    worker = older_worker(write_json(fleet_home / "auth.json", {}), loglevel="DEBUG")
    cpu = _cpu_seconds(worker.pid)

    window = 3 * defaults.REQUEUE_DELAY + 1
    time.sleep(window)

    log = worker.log_text()
    for task_id in ids:
        requeues = len(re.findall(rf"requeueing [\w.]+\[{task_id}\]", log))
        # Taken again and again, but at most once per delay: no hot spin.
        assert 2 <= requeues <= window / defaults.REQUEUE_DELAY + 1, (task_id, requeues)
    assert log.count(REQUEUED.format(name=settings.COPY_BLOBS)) == 1, log
    assert log.count(REQUEUED.format(name=settings.PUSH_IMAGE)) == 1, log
    assert "does not know the task name" in log and "message version 1" in log
    assert "NotRegistered" not in log and "Received unregistered task" not in log
    assert _cpu_seconds(worker.pid) - cpu < window / 3, "the older worker spun"
    assert _messages_held(redis_client) == 2, "a task was dropped"
    assert not store.status(plan).results, "nothing ran, nothing was recorded"


@pytest.fixture
def images(source: LabRegistry) -> list[SeedImage]:
    """Three repos of two tags each, small layers only (so blobs go in copy_blobs batches)."""
    return seed_apps(source, 5, repos=3, tags_per_repo=2, large_layer_size=0)


def test_old_and_new_workers_side_by_side_finish_a_plan_with_every_image(
    source: LabRegistry,
    dest: LabRegistry,
    images: list[SeedImage],
    older_worker: OlderWorker,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    redis_client: redis.Redis,
    fleet_home: Path,
) -> None:
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    rules = {f"{source.host}/lab/app{r}": f"{dest.host}/mirror/app{r}" for r in range(3)}
    config = write_json(fleet_home / "images.json", rules)
    old = older_worker(auth, loglevel="DEBUG")
    run = syncer_cli("plan", "--auth", auth, "--images", config, timeout=60)
    assert run.code == 0, run
    plan = run.out.strip()
    # The older worker alone expands and resolves, then meets the batches it cannot run.
    old.wait_for_log(REQUEUED.format(name=settings.COPY_BLOBS), timeout=60)

    (new,) = workers(1, auth=auth, concurrency=2)
    store = PlanStore(redis_client)
    deadline = time.monotonic() + 120
    while not store.finished(plan) and time.monotonic() < deadline:
        time.sleep(0.5)

    status = store.status(plan)
    assert store.finished(plan), (status.counters, old.log_tail(), new.log_tail())
    assert status.counters["tags_total"] == len(images) == status.counters["tags_done"]
    assert [r for r in status.results if r.status != "synced"] == []
    with RegistryReader(dest.url) as dst:
        expected = [(i.repo.replace("lab/", "mirror/", 1), i.tag, i.digest) for i in images]
        verify_all(dst, expected)
    log = old.log_text()
    assert log.count(REQUEUED.format(name=settings.COPY_BLOBS)) == 1
    assert log.count(REQUEUED.format(name=settings.PUSH_IMAGE)) <= 1
    assert "is too new" not in log, "Celery logged a requeue again"
    assert "requeueing" not in new.log_text(), "the current worker runs every task"
    assert old.running and new.running
