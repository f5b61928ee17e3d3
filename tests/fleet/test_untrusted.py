"""A worker fleet facing hostile input: names from a source, and tasks no planner sent.

* A tag with an ESC sequence and a newline fails its own image; the plan ends
  and ``plan --wait`` returns; no log line is forged, no ESC is printed.
* A task whose arguments do not parse is recorded as a failure of its plan.
* A task for a plan this Redis never had, or for a cancelled plan, is dropped
  before the worker contacts any registry: the worker's credentials for that
  registry are never sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from syncer.fleet.broker import celery_app
from syncer.fleet.protocol import settings
from syncer.fleet.state.plans import PlanStore
from tests.support.hostile import Pool, make_image, pool
from tests.support.processes import RunCli, WorkerFactory, WorkerProcess
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, write_json

pytestmark = pytest.mark.integration

FORGED = "FORGED-LINE [2026-01-01 12:00:00,000: ERROR/MainProcess] all synced"
HOSTILE_TAG = f"v2\x1b[31m\u202e\n{FORGED}"
RAW = ("\x1b", "\u202e", "\r")


@pytest.fixture
def hostile() -> Iterator[Pool]:
    """Scripted registries on loopback, all stopped at teardown."""
    yield from pool()


def assert_clean(text: str, where: str) -> None:
    """No raw control character and no line that starts with the forged text."""
    for ch in RAW:
        assert ch not in text, f"{where} carries {ch!r}"
    assert not [line for line in text.splitlines() if line.startswith("FORGED")], where


def wait_until(what: str, predicate: object, timeout: float) -> None:
    """Poll ``predicate()`` until it is true, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {timeout}s: {what}"
        time.sleep(0.1)


def test_a_hostile_tag_fails_its_image_and_plan_wait_returns(
    hostile: Pool,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
) -> None:
    src = hostile()
    src.serve_image("lab/app", "v1", make_image("untrusted"))
    src.route(
        "GET",
        r"^/v2/lab/app/tags/list$",
        lambda r: r.send_json(200, {"tags": ["v1", HOSTILE_TAG]}),
    )
    auth = write_json(fleet_home / "auth.json", insecure(src.host, dest.host))
    images = write_json(
        fleet_home / "images.json", {f"{src.host}/lab/app": f"{dest.host}/mirror/app"}
    )
    (worker,) = workers(1, auth=auth, concurrency=2)

    started = time.monotonic()
    run = syncer_cli("plan", "--auth", auth, "--images", images, "--wait", timeout=90)
    took = time.monotonic() - started

    assert run.code == 1, run
    assert took < 60
    plan = run.out.splitlines()[0].strip()
    counters = PlanStore(redis_client).status(plan).counters
    assert (counters["tags_total"], counters["tags_done"], counters["tags_failed"]) == (2, 1, 1)
    assert counters["rules_pending"] == 0
    assert "1 synced, 0 skipped, 1 failed (of 2)" in run.out, run
    assert_clean(run.out, "the planner's stdout")
    assert_clean(run.err, "the planner's stderr")
    assert "\\x1b[31m\\u202e\\n" in run.out, "the failed image is listed, escaped"
    log = worker.log_text()
    assert_clean(log, "the worker log")
    assert "\\x1b[31m" in log, "the worker logged the failure, escaped"
    listed = requests.get(f"{dest.url}/v2/mirror/app/tags/list", timeout=5).json()
    assert listed["tags"] == ["v1"]


def test_a_task_whose_reference_does_not_parse_is_recorded_failed(
    hostile: Pool,
    workers: WorkerFactory,
    redis_server: str,
    redis_client: redis.Redis,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    src = hostile()
    store = PlanStore(redis_client)
    plan = store.create({"source": "test"})
    store.bump(plan, tags_total=1)
    bad = f"{src.host}/lab/app:{HOSTILE_TAG}"
    celery_app(redis_server).send_task(
        settings.SYNC_TAG, kwargs={"plan": plan, "source": bad, "dest": f"{src.host}/m/app:v2"}
    )
    auth = write_json(fleet_home / "auth.json", insecure(src.host))
    (worker,) = workers(1, auth=auth, concurrency=1)

    wait_until("the plan to finish", lambda: store.finished(plan), timeout=30)
    status = syncer_cli("status", plan, timeout=30)

    assert status.code == 1, status
    counters = store.status(plan).counters
    assert (counters["tags_total"], counters["tags_failed"]) == (1, 1)
    [result] = store.status(plan).results
    assert result.status == "failed" and result.source == bad and "invalid" in result.reason
    assert src.requests() == [], "a reference that does not parse reached a registry"
    assert_clean(status.out + status.err, "syncer status")
    assert_clean(worker.log_text(), "the worker log")


def test_tasks_of_unknown_or_cancelled_plans_are_dropped_unrun(
    hostile: Pool,
    workers: WorkerFactory,
    redis_server: str,
    redis_client: redis.Redis,
    fleet_home: Path,
) -> None:
    src = hostile()
    secret = "worker-secret-pw"
    auth = write_json(
        fleet_home / "auth.json",
        {src.host: {"username": "bob", "password": secret, "insecure": True}},
    )
    store = PlanStore(redis_client)
    cancelled = store.create({"source": "test"})
    store.bump(cancelled, tags_total=1)
    store.cancel(cancelled)
    forged_plan = f"nope\x1b[2J\n{FORGED}"
    repo, digest = f"{src.host}/lab/app", "sha256:" + "ab" * 32
    blob = {"digest": digest, "size": 10, "media_type": "application/octet-stream"}
    tasks = [
        (settings.SYNC_TAG, {"plan": "no-such-plan", "source": f"{repo}:v1", "dest": f"{repo}:v2"}),
        (settings.SYNC_TAG, {"plan": cancelled, "source": f"{repo}:v1", "dest": f"{repo}:v2"}),
        (settings.COPY_BLOB, {"plan": forged_plan, "src": repo, "dst": repo, **blob}),
        (settings.COPY_BLOBS, {"plan": "no-such-plan", "src": repo, "dst": repo, "blobs": [blob]}),
        (settings.PUSH_IMAGE, {"plan": "no-such-plan", "image": "0123456789abcdef"}),
        (settings.ENQUEUE_TAGS, {"plan": "no-such-plan", "jobs": []}),
    ]
    app = celery_app(redis_server)
    # Queued before any worker runs, as a task already waiting when its plan is cancelled.
    ids = [app.send_task(name, kwargs=kwargs).id for name, kwargs in tasks]
    (worker,) = workers(1, auth=auth, concurrency=2)

    wait_until(
        "every task to be dropped",
        lambda: len(re.findall(r"dropped task ", worker.log_text())) >= len(tasks),
        timeout=30,
    )
    # Positive control: a task of a live plan, sent now, reaches a registry (its
    # own) in `reach` seconds; twice that is left for a dropped task to go on.
    ctl = hostile()
    live = store.create({"source": "test"}, images=1)
    sent = time.monotonic()
    control = {"plan": live, "source": f"{ctl.host}/lab/c:v1", "dest": f"{ctl.host}/m/c:v1"}
    app.send_task(settings.SYNC_TAG, kwargs=control)
    wait_until("the live task to reach its registry", lambda: ctl.requests(), 30)
    reach = time.monotonic() - sent
    time.sleep(max(1.0, 2 * reach))  # room for anything that would run after the drop

    log = worker.log_text()
    assert src.requests() == [], "a dropped task contacted the registry"
    assert secret not in log
    for task_id in ids:
        assert len(re.findall(rf"dropped task [\w.]+\[{task_id}\]", log)) == 1, task_id
    assert f"plan {cancelled} is cancelled" in log
    assert "plan no-such-plan is unknown" in log
    assert "plan nope\\x1b[2J\\nFORGED-LINE" in log, "the forged plan id is shown escaped"
    assert_clean(log, "the worker log")
    status = store.status(cancelled)
    assert status.results == [] and status.counters["tags_failed"] == 0
    assert not redis_client.keys("syncer:plan:no-such-plan:*"), "a dropped task wrote state"
    assert_worker_alive(worker)


def assert_worker_alive(worker: WorkerProcess) -> None:
    """The worker took the hostile tasks in its stride."""
    assert worker.running, worker.log_tail()
