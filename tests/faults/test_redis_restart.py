"""Redis restarts, with AOF persistence on, under a running fleet.

Each test runs its own ``redis-server --appendonly yes --appendfsync always``
(with a password, in a temporary directory) and two workers, and restarts
Redis on the same port. Workers must reconnect; a plan caught by the restart
must still finish, every image either synced and verified or failed with its
reason, and its counters must add up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from lab.images import build_image_set
from syncer.fleet.state.plans import PlanStatus, PlanStore
from tests.support.faults import assert_settled, mirror, restart_redis, verify_synced
from tests.support.processes import RedisProcess, WorkerPool, fleet_env, run_cli
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, seed, seed_apps, write_json
from tests.support.tcprelay import ThrottledRelay
from tests.support.verify import RegistryReader, verify_image
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

#: How long a plan that takes ~6 s undisturbed may take after the restart.
SETTLE = 25.0


def _follow(store: PlanStore, plan: str, timeout: float) -> PlanStatus:
    def ended() -> PlanStatus | None:
        status = store.status(plan)
        return status if status.finished else None

    return wait_for("the plan to end after the restart", ended, timeout, interval=0.5)


def test_plan_caught_by_a_redis_restart_still_finishes(
    durable_redis: RedisProcess,
    fleet_pool: WorkerPool,
    source: LabRegistry,
    dest: LabRegistry,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(
        55, repos=3, tags_per_repo=2, layer_size=128 << 10, large_layer_size=12 << 20
    )
    images = seed(source, [i for i in image_set.images if i.repo != "lab/multi"])
    url = durable_redis.url(1)
    client = redis.Redis.from_url(url)
    try:
        with ThrottledRelay(source.host, 3 << 20) as relay:
            auth = write_json(fleet_home / "auth.json", insecure(relay.host, dest.host))
            rules = {f"{relay.host}/lab/app{r}": f"{dest.host}/mirror/app{r}" for r in range(3)}
            rules[f"{relay.host}/lab/large:v1"] = f"{dest.host}/mirror/large"
            fleet = fleet_pool.start(2, auth=auth, concurrency=3)
            started = run_cli(
                ["plan", "--auth", auth, "--images", write_json(fleet_home / "i.json", rules)],
                fleet_env(url, fleet_home),
            )
            assert started.code == 0, started
            plan = started.out.strip()
            store = PlanStore(client)
            wait_for(
                "the large layer to be streaming",
                lambda: store.status(plan).counters["bytes_done"] > 1 << 20,
                timeout=60,
            )
            before = store.status(plan).counters

            restart_redis(durable_redis, down=2.0)
            assert store.exists(plan), "the AOF lost the plan"
            status = _follow(store, plan, SETTLE)
    finally:
        client.close()

    report = run_cli(["status", plan, "--output", "json"], fleet_env(url, fleet_home)).json
    assert report["state"] == "finished"
    assert_settled(report)
    assert before["tags_done"] < len(images), "the restart came too late to matter"
    assert status.counters["tags_total"] == len(images)
    assert sorted(r["dest"] for r in report["results"]) == sorted(
        f"{dest.host}/{mirror(i.repo)}:{i.tag}" for i in images
    ), "an image was counted twice, or lost"
    synced = {r["dest"] for r in report["results"] if r["status"] == "synced"}
    with RegistryReader(dest.url) as reader:
        verify_synced(
            reader, [i for i in images if f"{dest.host}/{mirror(i.repo)}:{i.tag}" in synced]
        )
        for image in images:  # a failed image has no tag, or a complete one
            if image.tag in reader.tags(mirror(image.repo)):
                verify_image(reader, mirror(image.repo), image.tag, image.digest)
    c = report["counters"]
    assert c["blobs_done"] + c["blobs_skipped"] + c["blobs_failed"] == c["blobs_total"], c
    assert all(w.running for w in fleet)


def test_workers_reconnect_and_plans_persist_across_a_restart(
    durable_redis: RedisProcess,
    fleet_pool: WorkerPool,
    source: LabRegistry,
    dest: LabRegistry,
    fleet_home: Path,
) -> None:
    images = seed_apps(source, 56, repos=2, tags_per_repo=1, large_layer_size=0)
    url = durable_redis.url(1)
    env = fleet_env(url, fleet_home)
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    rules = write_json(
        fleet_home / "images.json",
        {f"{source.host}/lab/app{r}": f"{dest.host}/mirror/app{r}" for r in range(2)},
    )
    fleet = fleet_pool.start(2, auth=auth, concurrency=2)
    plan_args = ["plan", "--auth", auth, "--images", rules, "--wait", "--output", "json"]
    first = run_cli(plan_args, env, timeout=90)
    assert first.code == 0, first

    restart_redis(durable_redis, down=1.0)
    for worker in fleet:
        worker.wait_for_log(r"(?s)Connection to broker lost.*Connected to \S+://", timeout=30)
    kept = run_cli(["status", first.json["plan"], "--output", "json"], env)
    again = run_cli([*plan_args, "--force"], env, timeout=90)

    assert kept.code == 0, kept
    assert kept.json["counters"] == first.json["counters"]
    assert kept.json["results"] == first.json["results"]
    assert again.code == 0, again
    assert_settled(again.json)
    assert again.json["images"]["done"] == len(images)
    with RegistryReader(dest.url) as reader:
        verify_synced(reader, images)
    assert all(w.running for w in fleet)
