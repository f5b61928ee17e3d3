"""What operators see in Flower, and that a registry password is never among it.

One plan runs for the whole module (it is the slow part): Flower starts
first, then two workers at DEBUG, then ``syncer plan --wait -v``. The
destination is an htpasswd registry whose password is planted, fresh and
random, in the auth file that both the workers and the planner read. The
tests then read Flower's API, every Redis key and value, and every log.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from lab.images import SeedImage
from lab.registry import HtpasswdAuth, RegistryServer
from syncer import defaults
from syncer.fleet.protocol import settings
from syncer.fleet.state.plans import PlanStore
from tests.support.faultproxy import FaultProxy
from tests.support.processes import (
    CliRun,
    FlowerProcess,
    RedisProcess,
    WorkerPool,
    fleet_env,
    run_cli,
    running_flower,
)
from tests.support.registries import LabRegistry, write_htpasswd
from tests.support.scenario import (
    EVERY_TASK,
    redis_dump,
    secret_forms,
    seed_apps,
    verify_all,
    write_json,
)
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration

FINAL_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


@dataclass(frozen=True)
class FlowerRun:
    """Everything the module's one plan left behind."""

    source: LabRegistry
    dest: LabRegistry
    images: list[SeedImage]
    plan: CliRun
    tasks: dict[str, dict[str, Any]]
    #: Where a secret must not appear: name -> text.
    outputs: dict[str, str]
    redis_password: str
    #: The environment to run ``syncer`` against the plan's Redis database.
    env: dict[str, str]
    #: The destination as the plan names it: a proxy in front of ``dest``.
    dest_host: str

    def of(self, name: str) -> list[dict[str, Any]]:
        """Flower's records of the tasks called ``name``."""
        return [t for t in self.tasks.values() if t.get("name") == name]


def _settled_tasks(
    flower: FlowerProcess, names: frozenset[str], timeout: float = 30.0
) -> dict[str, Any]:
    """``/api/tasks`` once every task of ``names`` has been seen in a final state."""
    deadline = time.monotonic() + timeout
    while True:
        resp = flower.get("/api/tasks")
        assert resp.status_code == 200, resp.text
        tasks: dict[str, Any] = resp.json()
        seen = {t.get("name") for t in tasks.values()}
        if names <= seen and all(t.get("state") in FINAL_STATES for t in tasks.values()):
            return tasks
        assert time.monotonic() < deadline, f"flower never settled: {json.dumps(tasks)[:2000]}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def flower_run(
    redis_process: RedisProcess, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlowerRun]:
    """Source, Basic-auth destination, Flower, two DEBUG workers, one finished plan.

    Workers and Flower are stopped (their logs complete) before the tests
    run; the Redis database lives on until the module ends.
    """
    home = tmp_path_factory.mktemp("flower-run")
    password = "pw-" + secrets.token_urlsafe(18)
    htpasswd = write_htpasswd(home / "htpasswd", {"alice": password})
    servers = [
        RegistryServer(binary=registry_binary, workdir=home / "source"),
        RegistryServer(
            binary=registry_binary, workdir=home / "dest", auth=HtpasswdAuth(str(htpasswd))
        ),
    ]
    front: FaultProxy | None = None
    try:
        for server in servers:
            server.start()
        source = LabRegistry(servers[0])
        dest = LabRegistry(servers[1], username="alice", password=password)
        images = seed_apps(source, 14, repos=2, tags_per_repo=2, large_layer_size=0)
        front = FaultProxy(dest.host)
        # Every attempt of one image's first push fails (through a proxy in front
        # of the destination), so it goes to a push_image task of its own.
        front.start()
        front.fault(
            "PUT", r"/mirror/app1/manifests/v1$", times=defaults.REQUEST_ATTEMPTS, status=503
        )
        auth = write_json(
            home / "auth.json",
            {
                source.host: {"insecure": True},
                front.host: {"insecure": True, "username": "alice", "password": password},
            },
        )
        rules = write_json(
            home / "images.json",
            {
                f"{source.host}/lab/app0": f"{front.host}/mirror/app0",  # expanded by a worker
                f"{source.host}/lab/app1:v1,v2": f"{front.host}/mirror/app1",
            },
        )
        with redis_process.database() as url:
            env = fleet_env(url, home)
            plan, tasks, outputs = _observe(url, home, auth, rules, env)
            yield FlowerRun(
                source,
                dest,
                images,
                plan,
                tasks,
                outputs,
                redis_process.password,
                env,
                front.host,
            )
    finally:
        if front is not None:
            front.stop()
        for server in servers:
            server.stop()


def _observe(
    url: str, home: Path, auth: Path, rules: Path, env: dict[str, str]
) -> tuple[CliRun, dict[str, Any], dict[str, str]]:
    """Run the plan under Flower's eyes; return it, Flower's tasks, and every output."""
    with running_flower(url, home) as flower:
        pool = WorkerPool(url, home)
        try:
            # Every blob its own task, so Flower shows what each copy moves.
            pool.start(
                2, auth=auth, concurrency=3, loglevel="DEBUG", env={"SYNCER_BATCH_BLOB": "0"}
            )
            plan = run_cli(
                ["plan", "--auth", auth, "--images", rules, "--wait", "--output", "json", "-v"],
                env,
                timeout=120,
            )
            tasks = _settled_tasks(flower, EVERY_TASK)
            outputs = {
                "flower /api/tasks": json.dumps(tasks),
                "flower /api/workers": flower.get("/api/workers", refresh=1).text,
                "planner stdout": plan.out,
                "planner stderr": plan.err,
            }
        finally:
            pool.stop()
    client = redis.Redis.from_url(url)
    try:
        outputs["redis dump"] = redis_dump(client)
    finally:
        client.close()
    outputs.update({f"log of {w.node}": w.log_text() for w in pool.started})
    outputs["flower log"] = flower.log_text()
    return plan, tasks, outputs


def test_plan_succeeded_with_the_planted_password(flower_run: FlowerRun) -> None:
    assert flower_run.plan.code == 0, flower_run.plan
    assert flower_run.plan.json["images"]["done"] == len(flower_run.images)
    dest = flower_run.dest
    with RegistryReader(dest.url, auth=dest.auth) as reader:
        verify_all(
            reader,
            [(i.repo.replace("lab/", "mirror/"), i.tag, i.digest) for i in flower_run.images],
        )
    assert len(flower_run.outputs["flower /api/workers"]) > 100
    assert len(flower_run.outputs["redis dump"]) > 100


def test_flower_lists_every_kind_of_task(flower_run: FlowerRun) -> None:
    names = {t["name"] for t in flower_run.tasks.values()}
    assert EVERY_TASK <= names
    assert not [t for t in flower_run.tasks.values() if t["state"] != "SUCCESS"]
    assert len({t["worker"] for t in flower_run.tasks.values()}) == 2
    # Every image is named once, in the sync_tags batch that checked it.
    batches = [t["kwargs"] for t in flower_run.of(settings.SYNC_TAGS)]
    named = sum(int(kwargs.split("jobs=")[1].split()[0]) for kwargs in batches)
    assert named == len(flower_run.images)


def test_blob_tasks_say_what_they_copy_where(flower_run: FlowerRun) -> None:
    dest_host = flower_run.dest_host
    copies = flower_run.of(settings.COPY_BLOB)
    for task in copies:
        text = task["args"] + task["kwargs"]
        for word in ("digest", "sha256:", "size", f"{dest_host}/mirror/app"):
            assert word in text, f"{word!r} not in copy_blob {text}"
    described = " ".join(t["kwargs"] for t in copies)
    for image in flower_run.images:
        for blob in image.blobs:
            assert blob.digest in described and str(blob.size) in described


def test_image_tasks_name_their_images(flower_run: FlowerRun) -> None:
    src, dst = flower_run.source.host, flower_run.dest_host
    tags = " ".join(t["kwargs"] for t in flower_run.of(settings.SYNC_TAGS))
    for image in flower_run.images:
        assert f"{src}/{image.repo}:{image.tag}" in tags
        assert f"{dst}/{image.repo.replace('lab/', 'mirror/')}:{image.tag}" in tags
    [expand] = flower_run.of(settings.EXPAND_RULE)
    assert f"{src}/lab/app0" in expand["kwargs"]


def test_expand_tasks_name_their_destination(flower_run: FlowerRun) -> None:
    [expand] = flower_run.of(settings.EXPAND_RULE)
    assert f"{flower_run.dest_host}/mirror/app0" in expand["kwargs"], expand["kwargs"]


def test_push_tasks_name_their_destination(flower_run: FlowerRun) -> None:
    pushes = flower_run.of(settings.PUSH_IMAGE)
    assert pushes
    for task in pushes:
        assert f"{flower_run.dest_host}/mirror/app1" in task["kwargs"], task["kwargs"]


def test_registry_password_is_nowhere(flower_run: FlowerRun) -> None:
    assert flower_run.dest.password is not None
    forms = secret_forms("alice", flower_run.dest.password)
    for name, text in flower_run.outputs.items():
        for form in forms:
            assert form not in text, f"the registry password leaked into {name}"


def test_redis_password_is_nowhere(flower_run: FlowerRun) -> None:
    for name, text in flower_run.outputs.items():
        assert flower_run.redis_password not in text, f"the Redis password leaked into {name}"


def test_status_of_a_finished_plan_is_frozen(flower_run: FlowerRun) -> None:
    plan = flower_run.plan.json["plan"]
    # Positive control: over the same wait, a plan that still runs shows its clock moving.
    client = redis.Redis.from_url(flower_run.env["SYNCER_REDIS_URL"])
    running = PlanStore(client).create({"source": "control"}, images=1)
    client.close()
    first, control = (
        run_cli(["status", p, "--output", "json"], flower_run.env) for p in (plan, running)
    )
    time.sleep(1.5)
    second, moved = (
        run_cli(["status", p, "--output", "json"], flower_run.env) for p in (plan, running)
    )

    assert moved.json["elapsed_seconds"] >= control.json["elapsed_seconds"] + 1.0, moved
    assert first.code == second.code == 0, (first, second)
    assert second.json["counters"] == first.json["counters"]
    assert second.json["elapsed_seconds"] == first.json["elapsed_seconds"]


def test_flower_api_needs_its_basic_auth(flower: FlowerProcess) -> None:
    anonymous = requests.get(flower.url + "/api/tasks", timeout=30)
    wrong = requests.get(flower.url + "/api/tasks", auth=("user", "wrong"), timeout=30)
    right = flower.get("/api/tasks")

    assert anonymous.status_code == wrong.status_code == 401
    assert right.status_code == 200 and right.json() == {}
