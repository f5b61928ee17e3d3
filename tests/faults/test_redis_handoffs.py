"""Redis restarts while the fleet hands copies on: ``plan --wait`` rides them out, no task is lost.

Redis runs as docker-compose runs it (``--appendonly yes``), so the queue,
the plan and the in-flight locks survive each restart. The plan keeps
hand-offs flowing: every blob is a ``copy_blob`` task of its own
(``SYNCER_BATCH_BLOB=0``), and one large blob on a throttled link is wanted
by two images in one destination registry, so the second copy re-checks the
in-flight lock every two seconds (the busy path republishes itself with a
countdown; a worker holds that message, unacknowledged, until then). Redis
is restarted twice while the large blob streams; the plan must still end
with every image, soon after Redis is back (a lock whose release the
restart swallowed used to stall the fleet for its 60 s TTL, and the held
re-checks were stranded until the 12 h visibility timeout), and
``plan --wait`` must say it reconnects, not die of a traceback.

The two smaller tests publish a hand-off through the real broker while
Redis is down: it goes out once Redis is back, or, if Redis never comes
back, nothing goes out and the task requeues its message.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery.exceptions import Reject

from lab.images import build_image_set
from syncer.fleet.broker import celery_app
from syncer.fleet.protocol import settings
from tests.support.faults import assert_settled, mirror, restart_redis, verify_synced
from tests.support.processes import REPO_ROOT, RedisProcess, WorkerPool, fleet_env, reap
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, seed, write_json
from tests.support.tcprelay import ThrottledRelay
from tests.support.verify import RegistryReader
from tests.support.waiting import wait_for
from workers import links, tasks

pytestmark = [pytest.mark.faults, pytest.mark.integration]

#: Source bandwidth: the large blob streams for ~13 s, across both restarts.
RATE = 5 << 20
#: Two restarts, far enough apart that workers and ``plan --wait`` see each.
RESTARTS, DOWN, UP = 2, 2.0, 6.0
#: The plan ends this soon after Redis is back for the last time. The stream
#: left then takes a few seconds; a lock left behind held the fleet for 60 s.
SETTLE = 30.0
BUSY = re.compile(r"copy_blob\[[^]]+\] succeeded in [0-9.]+s: 'busy'")


def _busy_rechecks(pool: WorkerPool) -> int:
    return sum(len(BUSY.findall(w.log_text())) for w in pool.started)


def test_plan_wait_rides_out_redis_restarts_during_hand_offs(
    durable_redis: RedisProcess,
    fleet_pool: WorkerPool,
    source: LabRegistry,
    dest: LabRegistry,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(
        61, repos=3, tags_per_repo=2, layer_size=256 << 10, large_layer_size=links.LARGE_BLOB + 1
    )
    large = next(i for i in image_set.images if i.repo == "lab/large")
    images = seed(
        source,
        [i for i in image_set.images if i.repo.startswith("lab/app")]
        + [large, dataclasses.replace(large, repo="lab/large2")],
    )
    url = durable_redis.url(1)
    env = fleet_env(url, fleet_home)
    err_path = fleet_home / "plan-wait.err"
    with ThrottledRelay(source.host, RATE) as relay:
        auth = write_json(fleet_home / "auth.json", insecure(relay.host, dest.host))
        repos = sorted({i.repo for i in images})
        rules = write_json(
            fleet_home / "images.json",
            {f"{relay.host}/{r}": f"{dest.host}/{mirror(r)}" for r in repos},
        )
        fleet = fleet_pool.start(2, auth=auth, concurrency=3, env={"SYNCER_BATCH_BLOB": "0"})
        argv = ["plan", "--auth", auth, "--images", rules, "--wait", "--output", "json"]
        with open(err_path, "w") as err:
            following = subprocess.Popen(
                [sys.executable, "-m", "syncer", *map(str, argv)],
                env=env,
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        try:
            wait_for(
                "the large blob streaming while its twin re-checks the lock",
                lambda: _busy_rechecks(fleet_pool) >= 2 and relay.relayed > 8 << 20,
                timeout=90,
            )
            busy_before = _busy_rechecks(fleet_pool)
            for n in range(RESTARTS):
                back = restart_redis(durable_redis, down=DOWN)
                if n < RESTARTS - 1:
                    time.sleep(UP)
            try:
                out, _ = following.communicate(timeout=SETTLE + 60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"plan --wait still running:\n{err_path.read_text()}")
            settled = time.monotonic() - back
        finally:
            reap(following)
    err_text = err_path.read_text()
    run = f"plan --wait -> {following.returncode}\n--- stderr\n{err_text}"

    assert following.returncode == 0, run
    assert "Traceback" not in err_text and "redis.exceptions" not in err_text, run
    reconnecting = re.findall(
        r"syncer: Redis at redis://\*\*\*@127\.0\.0\.1:\d+/1 unreachable \(\w+\); "
        r"trying again every 4s at most",
        err_text,
    )
    assert RESTARTS <= len(reconnecting) <= RESTARTS + 1, run  # one per outage it saw
    assert len(re.findall(r"is back after \d+s", err_text)) == len(reconnecting), run
    assert durable_redis.password not in err_text + out
    print(f"\nplan ended {settled:.1f}s after Redis was back (bound {SETTLE:.0f}s)")
    assert settled < SETTLE, f"the fleet stalled {settled:.0f}s after Redis came back\n{run}"

    report = json.loads(out)
    assert report["state"] == "finished"
    assert_settled(report)
    assert report["images"]["done"] == len(images), report["failed"]
    assert sorted(r["dest"] for r in report["results"]) == sorted(
        f"{dest.host}/{mirror(i.repo)}:{i.tag}" for i in images
    ), "an image was counted twice, or lost"
    c = report["counters"]
    assert c["blobs_done"] + c["blobs_skipped"] + c["blobs_failed"] == c["blobs_total"], c
    assert c["blobs_failed"] == 0, c
    with RegistryReader(dest.url) as reader:
        verify_synced(reader, images)
    # The hand-offs went on across the restarts, and no worker died of them.
    assert _busy_rechecks(fleet_pool) > busy_before
    logs = "".join(w.log_text() for w in fleet)
    assert "Unrecoverable error" not in logs
    assert "exited with status" not in logs
    # Busy re-checks waiting out their countdown were caught by each restart;
    # they came back from the unacked hash, not after the visibility timeout.
    assert "stranded by a lost Redis connection" in logs
    assert all(w.running for w in fleet)


def _queued(client: redis.Redis) -> int:
    """Messages waiting in queue ``celery`` (and its priority lists)."""
    keys = [k for k in client.scan_iter("celery*") if client.type(k) == b"list"]
    return sum(client.llen(k) for k in keys)


def _sender(url: str) -> Any:
    """The planner's app; results off, as the tasks ignore them (nothing to wait on)."""
    app = celery_app(url)
    app.conf.result_backend = "disabled://"
    return app


def _copy(app: Any) -> None:
    kwargs = {"plan": "p", "src": "r/a", "dst": "r/b", "digest": "sha256:" + "0" * 64, "size": 1}
    app.send_task(settings.COPY_BLOB, kwargs=kwargs, priority=9)


@contextmanager
def _redis_down(server: RedisProcess, back_after: float | None = None) -> Iterator[None]:
    """Redis stopped for the block: started again ``back_after`` seconds in, or at its end."""
    server.stop()
    comeback = threading.Timer(back_after, server.start) if back_after is not None else None
    if comeback is not None:
        comeback.start()
    try:
        yield
    finally:
        if comeback is not None:
            comeback.join()
        else:
            server.start()
        server.wait_ready()


def _hand_off(app: Any) -> tuple[bool, float]:
    """Whether a hand-off through ``app`` was confirmed published, and how long that took."""
    started = time.monotonic()
    published = tasks._confirmed(lambda: _copy(app))
    return published, time.monotonic() - started


def test_a_hand_off_during_an_outage_is_published_once_redis_is_back(
    durable_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(durable_redis.url(2))
    monkeypatch.setattr(tasks, "fleet", lambda: SimpleNamespace(redis=client))
    app = _sender(durable_redis.url(2))
    with _redis_down(durable_redis, back_after=1.5):
        published, waited = _hand_off(app)
    assert published
    assert 1.0 < waited < 15.0, waited
    assert _queued(client) == 1, "published exactly once, after Redis came back"
    client.close()


def test_a_hand_off_redis_never_took_is_not_acknowledged(
    durable_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(durable_redis.url(3))
    wait = tasks._await_redis
    monkeypatch.setattr(tasks, "fleet", lambda: SimpleNamespace(redis=client))
    monkeypatch.setattr(tasks, "_await_redis", lambda: wait(timeout=1.0))
    app = _sender(durable_redis.url(3))
    with _redis_down(durable_redis):
        published, gave_up = _hand_off(app)
    assert not published
    assert gave_up < 15.0, gave_up
    assert _queued(client) == 0, "nothing half-published"
    # The task then raises this: Celery requeues the message instead of acknowledging it.
    reject = tasks._requeue("busy re-check of sha256:0000")
    assert isinstance(reject, Reject) and reject.requeue
    client.close()
