"""Helpers shared by the fault scenarios: plans, reports, waiting, breaking a registry's storage."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.content import Blob
from lab.images import SeedImage, build_image_set
from lab.registry import RegistryServer
from syncer import defaults
from tests.support.chaos import ChaosProxy
from tests.support.processes import RedisProcess, RunCli, WorkerFactory, WorkerProcess
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, seed, start_plan, write_json
from tests.support.tcprelay import ThrottledRelay
from tests.support.verify import RegistryReader, verify_image
from tests.support.waiting import wait_for

#: The upload session of the large blob the worker-death tests interrupt.
LARGE_UPLOAD = r"^/v2/mirror/large/blobs/uploads/[^/]+$"


def mirror_config(home: Path, src: str, dst: str, images: list[SeedImage]) -> tuple[Path, Path]:
    """The auth file and one tag rule per image, ``lab/`` -> ``mirror/``."""
    auth = write_json(home / "auth.json", insecure(src, dst))
    rules = write_json(
        home / "images.json",
        {f"{src}/{i.repo}:{i.tag}": f"{dst}/{mirror(i.repo)}" for i in images},
    )
    return auth, rules


def follow_plan(cli: RunCli, plan: str, timeout: float) -> dict[str, Any]:
    """``syncer status PLAN --follow --output json`` until the plan ends; it exits 0; its report."""
    run = cli("status", plan, "--follow", "--output", "json", timeout=timeout)
    assert run.code == 0, run
    return run.json


def seed_large_layer(source: LabRegistry, seed_number: int) -> tuple[list[SeedImage], Blob]:
    """Seed ``lab/app0`` v1 and v2 and ``lab/large:v1``; the images, and the large layer.

    The large layer (70 MiB) is uploaded in chunks, more than two of them.
    """
    image_set = build_image_set(seed_number, repos=1, tags_per_repo=2, large_layer_size=70 << 20)
    images = seed(source, list(image_set.images)[:3])  # app0:v1, app0:v2, large:v1
    big = max(image_set.get("lab/large", "v1").blobs, key=lambda b: b.size)
    assert big.size >= defaults.CHUNKED_THRESHOLD and big.size > 2 * defaults.UPLOAD_CHUNK
    return images, big


def wait_inside_second_chunk(dst: ChaosProxy) -> None:
    """Until the large blob's second PATCH is on the wire (the first accepted), and a bit on."""

    def second_chunk_on_the_wire() -> bool:
        patches = dst.recorded("PATCH", LARGE_UPLOAD)
        return len(patches) >= 2 and patches[0].status == 202

    wait_for("the second chunk to start", second_chunk_on_the_wire, timeout=60)
    time.sleep(0.5)  # well inside the second chunk


@dataclass(frozen=True)
class CaughtUpload:
    """A plan caught inside its large blob's second chunk (see :func:`inside_second_chunk`)."""

    images: list[SeedImage]
    big: Blob
    auth: Path
    fleet: list[WorkerProcess]
    plan: str


@contextmanager
def inside_second_chunk(
    source: LabRegistry,
    dst: ChaosProxy,
    workers: WorkerFactory,
    cli: RunCli,
    home: Path,
    seed_number: int,
    count: int,
    env: Mapping[str, str] | None = None,
) -> Iterator[CaughtUpload]:
    """Start ``count`` workers on the large layer's plan via a relay; yield in its second chunk."""
    images, big = seed_large_layer(source, seed_number)
    with ThrottledRelay(source.host, 16 << 20) as relay:
        auth, rules = mirror_config(home, relay.host, dst.host, images)
        fleet = workers(count, auth=auth, concurrency=2, env=env)
        dst.owners = [w.pid for w in fleet]
        plan = start_plan(cli, auth, rules)
        wait_inside_second_chunk(dst)
        yield CaughtUpload(images, big, auth, fleet, plan)


def mirror(repo: str) -> str:
    """``lab/app0`` -> ``mirror/app0``."""
    return repo.replace("lab/", "mirror/", 1)


def assert_settled(report: dict[str, Any]) -> None:
    """Every image is accounted for once, and every failure says why."""
    images = report["images"]
    assert images["done"] + images["skipped"] + images["failed"] == images["total"], images
    assert len(report["results"]) == images["total"], report["results"]
    for failure in report["failed"]:
        assert failure["reason"].strip(), failure
    if "counters" in report:
        c = report["counters"]
        assert c["tags_done"] + c["tags_skipped"] + c["tags_failed"] == c["tags_total"], c
        assert c["rules_pending"] == 0, c


def verify_synced(reader: RegistryReader, images: Iterable[SeedImage]) -> None:
    """Every image's tag is at the destination with its digest, and all it references."""
    for image in images:
        verify_image(reader, mirror(image.repo), image.tag, image.digest)


def assert_all_synced(report: dict[str, Any], dest_url: str, images: Sequence[SeedImage]) -> None:
    """The plan settled with every image done and none failed, and each is at the destination."""
    assert_settled(report)
    assert report["failed"] == [] and report["images"]["done"] == len(images), report
    with RegistryReader(dest_url) as reader:
        verify_synced(reader, images)


def restart_redis(server: RedisProcess, down: float) -> float:
    """Stop Redis (SIGTERM: it fsyncs its AOF), wait ``down`` s, start it; when it answered."""
    server.stop()
    time.sleep(down)
    server.start()
    server.wait_ready()
    return time.monotonic()


def blob_data_path(server: RegistryServer, digest: str) -> Path:
    """Where distribution's filesystem driver keeps a blob's bytes."""
    hexpart = digest.split(":", 1)[1]
    return server.storage_dir / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def corrupt_blob(server: RegistryServer, digest: str) -> None:
    """Flip bytes in the middle of a stored blob, keeping its length."""
    path = blob_data_path(server, digest)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + 16, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def kill_group(worker: WorkerProcess) -> None:
    """``kill -9`` the worker's whole process group (it runs in a session of its own)."""
    os.killpg(worker.pid, signal.SIGKILL)
    assert worker.proc is not None
    worker.proc.wait(timeout=10)


def printable(text: str) -> bool:
    """No control characters (newlines included)."""
    return all(ch.isprintable() for ch in text)
