"""No credential leaks, even on error paths; Redis over a password and over TLS.

The first test plants a fresh password for a Basic-auth *source* in the
workers' (and the planner's) auth file, injects a 429 and a 503 through a
proxy so retries and backoff run, fails the first push at the destination
with 503s until it goes to a ``push_image`` task of its own, lets one image
fail for good, and runs it all at DEBUG under Flower's eyes. It then looks for the password (raw, as
``base64(user:password)`` and as ``Basic <b64>``), and for the Redis password,
in every key and value of Redis (kombu messages and Celery results decoded),
in Flower's task and worker APIs, in every log, and in the JSON report.

The second test runs a plan, its workers and ``status`` over ``rediss://``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from lab.registry import free_port
from syncer import defaults
from tests.support.binaries import require_binary
from tests.support.certs import make_self_signed
from tests.support.chaos import ChaosProxy
from tests.support.faults import assert_settled, verify_synced
from tests.support.processes import (
    FlowerProcess,
    ManagedProcess,
    RedisProcess,
    RunCli,
    WorkerFactory,
    WorkerPool,
    fleet_env,
    run_cli,
    running,
)
from tests.support.registries import LabRegistry
from tests.support.scenario import (
    EVERY_TASK,
    insecure,
    plan_wait,
    redis_dump,
    seed,
    seed_apps,
    small_image,
    write_json,
)
from tests.support.verify import RegistryReader
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def _forms(user: str, password: str) -> list[str]:
    b64 = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, b64, f"Basic {b64}"]


def _settled_tasks(flower: FlowerProcess, timeout: float = 30.0) -> dict[str, object]:
    """Flower's ``/api/tasks`` once every task it knows has ended."""
    last: list[dict[str, dict[str, object]]] = [{}]

    def settled() -> dict[str, object] | None:
        resp = flower.get("/api/tasks")
        assert resp.status_code == 200, resp.text
        last[0] = tasks = resp.json()
        done = tasks and all(t.get("state") in ("SUCCESS", "FAILURE") for t in tasks.values())
        return dict(tasks) if done else None

    return wait_for(
        lambda: f"flower to settle: {json.dumps(last[0])[:2000]}", settled, timeout, 0.5
    )


def test_no_secret_anywhere_after_errors_and_retries(
    basic_registry: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    flower: FlowerProcess,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
    redis_process: RedisProcess,
) -> None:
    source = basic_registry
    assert source.password and source.username
    images = seed_apps(source, 61, repos=2, tags_per_repo=2, large_layer_size=0)
    src = make_proxy(source.host)
    limited = src.fault("GET", r"/blobs/sha256:", nth=2, status=429, headers={"Retry-After": "1"})
    broken = src.fault("GET", r"/manifests/", nth=1, status=503)
    # Every attempt of one image's first push fails: it goes to a push_image task,
    # whose arguments are audited too.
    dst = make_proxy(dest.host)
    pushed = dst.fault(
        "PUT", r"/mirror/app1/manifests/v1$", times=defaults.REQUEST_ATTEMPTS, status=503
    )
    auth = write_json(
        fleet_home / "auth.json",
        {
            src.host: {"insecure": True, "username": source.username, "password": source.password},
            dst.host: {"insecure": True},
        },
    )
    rules = write_json(
        fleet_home / "images.json",
        {
            f"{src.host}/lab/app0": f"{dst.host}/mirror/app0",  # listed by a worker
            f"{src.host}/lab/app1:v1,v2,nope": f"{dst.host}/mirror/app1",
        },
    )
    # Every blob its own task: the audit covers copy_blob arguments too.
    fleet = workers(2, auth=auth, concurrency=3, loglevel="DEBUG", env={"SYNCER_BATCH_BLOB": "0"})

    run = plan_wait(syncer_cli, auth, rules, "-v")

    assert run.code == 1, run
    report = run.json
    assert_settled(report)
    assert report["images"] == {"total": 5, "done": 4, "skipped": 0, "failed": 1}
    [failure] = report["failed"]
    assert failure["dest"] == f"{dst.host}/mirror/app1:nope"
    with RegistryReader(dest.url) as reader:
        verify_synced(reader, images)
    assert limited.fired == 1 and broken.fired == 1
    assert pushed.fired == defaults.REQUEST_ATTEMPTS
    assert any(r.headers.get("Authorization", "").startswith("Basic ") for r in src.recorded()), (
        "the credential was never used: the test proves nothing"
    )

    tasks = _settled_tasks(flower)
    names = {t["name"] for t in tasks.values()}  # type: ignore[index]
    assert EVERY_TASK <= names
    outputs = {
        "flower /api/tasks": json.dumps(tasks),
        "flower /api/workers": flower.get("/api/workers", refresh=1).text,
        "planner stdout (the report)": run.out,
        "planner stderr": run.err,
        "failure reasons": json.dumps(report["failed"]),
    }
    for worker in fleet:
        worker.stop()
    outputs["redis dump"] = redis_dump(redis_client)
    outputs.update({f"log of {w.node}": w.log_text() for w in fleet})
    outputs["flower log"] = flower.log_text()
    assert "celery-task-meta" in outputs["redis dump"] or "_kombu" in outputs["redis dump"]
    assert "DEBUG" in outputs[f"log of {fleet[0].node}"]
    assert "429" in outputs["planner stderr"] + "".join(w.log_text() for w in fleet)

    secrets_ = _forms(source.username, source.password) + [redis_process.password]
    leaks = [(name, form) for name, text in outputs.items() for form in secrets_ if form in text]
    assert leaks == [], f"credentials leaked: {leaks}"


class TLSRedis(ManagedProcess):
    """``redis-server`` listening only on a TLS port, with a password."""

    def __init__(self, binary: str, workdir: Path) -> None:
        cert = make_self_signed(workdir, "redis")
        self.ca = cert.cert_path
        self.port = free_port()
        self.password = "redis-" + secrets.token_urlsafe(12)
        argv = [
            binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(cert.cert_path), "--tls-key-file", str(cert.key_path),
            "--tls-ca-cert-file", str(cert.cert_path), "--tls-auth-clients", "no",
            "--requirepass", self.password, "--save", "", "--appendonly", "no",
            "--dir", str(workdir),
        ]  # fmt: skip
        super().__init__("redis-tls", argv, {}, workdir / "redis.log", cwd=workdir)

    def url(self, db: int = 0) -> str:
        """``rediss://:PASSWORD@127.0.0.1:PORT/DB?ssl_cert_reqs=required&ssl_ca_certs=CA``."""
        return (
            f"rediss://:{self.password}@127.0.0.1:{self.port}/{db}"
            f"?ssl_cert_reqs=required&ssl_ca_certs={self.ca}"
        )

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Block until PING answers over TLS."""
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url(), socket_timeout=1)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    assert self.running, self.log_tail()
                    assert time.monotonic() < deadline, self.log_tail()
                    time.sleep(0.1)
        finally:
            client.close()


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TLSRedis]:
    """A TLS-only ``redis-server``, trusted through ``ssl_ca_certs``."""
    workdir = tmp_path / "redis-tls"
    workdir.mkdir()
    with running(TLSRedis(require_binary("redis-server"), workdir)) as server:
        yield server


def test_rediss_url_works_for_plan_workers_and_status(
    tls_redis: TLSRedis, source: LabRegistry, dest: LabRegistry, fleet_home: Path
) -> None:
    images = seed(source, [small_image(62)])
    url = tls_redis.url(0)
    env = fleet_env(url, fleet_home)
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    rules = write_json(
        fleet_home / "images.json", {f"{source.host}/lab/app0:v1": f"{dest.host}/mirror/app0"}
    )
    pool = WorkerPool(url, fleet_home)
    try:
        pool.start(1, auth=auth, concurrency=2)
        run = run_cli(
            [
                "plan",
                "--redis",
                url,
                "--auth",
                auth,
                "--images",
                rules,
                "--wait",
                "--output",
                "json",
            ],
            env,
            timeout=90,
        )
        status = run_cli(["status", run.json["plan"], "--redis", url, "--output", "json"], env)
        no_ca = run_cli(["status", run.json["plan"], "--redis", url.split("?")[0]], env)
    finally:
        pool.stop()

    assert run.code == 0, run
    assert run.json["images"]["done"] == 1
    with RegistryReader(dest.url) as reader:
        verify_synced(reader, images)
    assert status.code == 0 and status.json["counters"] == run.json["counters"], status
    # Without the CA the certificate is refused, and the URL's password is not echoed.
    assert no_ca.code != 0, no_ca
    assert tls_redis.password not in no_ca.err + no_ca.out
    assert "rediss://***@127.0.0.1" in no_ca.err, no_ca
    assert "Traceback" not in no_ca.err
