"""The distributed mode end to end: ``syncer plan`` feeding real Celery worker processes.

Every test starts its own source and destination ``docker-registry``, a
fresh Redis database and two ``python -m syncer worker`` processes, then runs
``python -m syncer plan|status|cancel`` as subprocesses with timeouts. What
happened is read back from the registries' access logs and with plain HTTP.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.images import SeedImage, build_image_set
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import (
    UPLOADS,
    insecure,
    manifest_gets,
    mounts_of,
    plan_wait,
    seed,
    seed_apps,
    uploads_of,
    verify_all,
    write_json,
    writes_since,
)
from tests.support.tcprelay import ThrottledRelay
from tests.support.verify import RegistryReader, access_log

pytestmark = pytest.mark.integration

PLAN_TIMEOUT = 120.0
REPOS = 4


def _mirror(repo: str) -> str:
    return repo.replace("lab/", "mirror/", 1)


def _expected(images: list[SeedImage]) -> list[tuple[str, str, str]]:
    return [(_mirror(i.repo), i.tag, i.digest) for i in images]


def _config(
    home: Path, source: LabRegistry, dest: LabRegistry, images: dict[str, str | list[str]]
) -> tuple[Path, Path]:
    auth = write_json(home / "auth.json", insecure(source.host, dest.host))
    return auth, write_json(home / "images.json", images)


@pytest.fixture
def shared_base(source: LabRegistry) -> list[SeedImage]:
    """Four repos of two tags each sharing one base layer, and an OCI index; all seeded."""
    image_set = build_image_set(11, repos=REPOS, tags_per_repo=2, large_layer_size=0)
    wanted = [i for i in image_set.images if i.repo.startswith("lab/app")]
    return seed(source, [*wanted, image_set.get("lab/multi", "index")])


def _rules(source: LabRegistry, dest: LabRegistry) -> dict[str, str | list[str]]:
    # Repo-wide rules expand on the workers; the tag rule is enqueued by the planner.
    rules: dict[str, str | list[str]] = {
        f"{source.host}/lab/app{r}": f"{dest.host}/mirror/app{r}" for r in range(REPOS)
    }
    rules[f"{source.host}/lab/multi:index"] = f"{dest.host}/mirror/multi"
    return rules


def test_plan_copies_everything_and_each_blob_once(
    source: LabRegistry,
    dest: LabRegistry,
    shared_base: list[SeedImage],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    auth, images = _config(fleet_home, source, dest, _rules(source, dest))
    fleet = workers(2, auth=auth, concurrency=3)

    run = plan_wait(syncer_cli, auth, images, timeout=PLAN_TIMEOUT)

    assert run.code == 0, run
    report = run.json
    assert report["state"] == "finished" and report["failed"] == []
    with RegistryReader(source.url) as src, RegistryReader(dest.url) as dst:
        for image in shared_base:
            assert src.head_manifest(image.repo, image.tag) == (200, image.digest)
        verify_all(dst, _expected(shared_base))
    # Every blob was uploaded exactly once by the whole fleet, and no upload
    # was even started twice; the base layer that all four app repos share
    # went up once and was mounted three times.
    blobs = {b.digest: b for i in shared_base for b in i.blobs}
    for digest in blobs:
        puts = [a for a in uploads_of(dest.server, digest) if a.method == "PUT"]
        assert len(puts) == 1, f"{digest}: {puts}"
    sessions = [
        a
        for a in access_log(dest.server)
        if a.method == "POST" and a.path.endswith(UPLOADS) and a.status == 202
    ]
    assert len(sessions) == len(blobs), "upload sessions opened for blobs already there"
    holders: dict[str, set[str]] = {}
    for image in shared_base:
        for blob in image.blobs:
            holders.setdefault(blob.digest, set()).add(image.repo)
    [base] = [d for d, repos in holders.items() if len(repos) > 1]
    assert len(holders[base]) == REPOS
    assert uploads_of(dest.server, base)[0].path.startswith("/v2/mirror/app")
    mounts = mounts_of(dest.server, base)
    assert len({a.path.split("/blobs/")[0] for a in mounts}) == len(mounts) == REPOS - 1
    # These blobs are small: each image's go out as one copy_blobs batch, and
    # both workers took batches.
    for worker in fleet:
        log = worker.log_text()
        assert "Task syncer.copy_blobs[" in log, f"{worker.node} copied nothing"
        assert "Task syncer.copy_blob[" not in log, f"{worker.node}: small blob sent alone"
    # The counters add up to what the registry saw.
    keys = {(_mirror(i.repo), b.digest): b.size for i in shared_base for b in i.blobs}
    c = report["counters"]
    assert (c["tags_total"], c["tags_done"], c["tags_skipped"], c["tags_failed"]) == (9, 9, 0, 0)
    assert (c["blobs_total"], c["blobs_done"], c["blobs_skipped"], c["blobs_failed"]) == (
        len(keys),
        len(keys),
        0,
        0,
    )
    assert c["blobs_mounted"] == REPOS - 1 and c["rules_pending"] == 0
    # Bytes count each distinct blob once per destination registry: the shared
    # base went over the wire once, and its mounts moved and skipped nothing.
    assert c["bytes_total"] == sum(b.size for b in blobs.values()) < sum(keys.values())
    assert c["bytes_done"] == c["bytes_total"]
    assert c["bytes_skipped"] == c["bytes_failed"] == 0
    assert report["images"] == {"total": 9, "done": 9, "skipped": 0, "failed": 0}
    assert sorted(r["dest"] for r in report["results"]) == sorted(
        f"{dest.host}/{repo}:{tag}" for repo, tag, _ in _expected(shared_base)
    )

    status = syncer_cli("status", report["plan"], "--output", "json")
    text = syncer_cli("status", report["plan"])

    assert status.code == 0, status
    assert status.json["counters"] == c and status.json["state"] == "finished"
    assert status.json["failed"] == [] and status.json["images"] == report["images"]
    assert text.code == 0, text
    assert "images: 9 synced, 0 skipped, 0 failed (of 9)" in text.out
    assert f"{REPOS - 1} mounted" in text.out


def test_second_plan_moves_nothing_and_pulls_no_manifest(
    source: LabRegistry,
    dest: LabRegistry,
    shared_base: list[SeedImage],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    auth, images = _config(fleet_home, source, dest, _rules(source, dest))
    workers(2, auth=auth, concurrency=3)
    first = plan_wait(syncer_cli, auth, images, timeout=PLAN_TIMEOUT)
    assert first.code == 0, first
    src_mark, dst_mark = len(access_log(source.server)), len(access_log(dest.server))

    again = plan_wait(syncer_cli, auth, images, timeout=PLAN_TIMEOUT)

    assert again.code == 0, again
    report = again.json
    assert report["plan"] != first.json["plan"]
    assert report["bytes"]["done"] == 0
    assert report["images"] == {"total": 9, "done": 0, "skipped": 9, "failed": 0}
    assert {r["status"] for r in report["results"]} == {"skipped"}
    assert manifest_gets(source.server, src_mark) == []
    assert writes_since(dest.server, dst_mark) == []


def test_failed_images_fail_the_plan(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(12, repos=1, tags_per_repo=1, large_layer_size=0)
    good = seed(source, [image_set.get("lab/app0", "v1")])
    auth, images = _config(
        fleet_home,
        source,
        dest,
        {
            f"{source.host}/lab/app0:v1,nope": f"{dest.host}/mirror/app0",
            f"{source.host}/lab/ghost": f"{dest.host}/mirror/ghost",  # no such repository
        },
    )
    workers(2, auth=auth, concurrency=3)

    run = plan_wait(syncer_cli, auth, images, timeout=PLAN_TIMEOUT)

    assert run.code == 1, run
    report = run.json
    failed = {f["dest"]: f for f in report["failed"]}
    assert set(failed) == {f"{dest.host}/mirror/app0:nope", f"{dest.host}/mirror/ghost"}
    nope = failed[f"{dest.host}/mirror/app0:nope"]
    assert nope["source"] == f"{source.host}/lab/app0:nope"
    assert re.search("MANIFEST_UNKNOWN|manifest unknown", nope["reason"]), nope
    assert re.search(
        "NAME_UNKNOWN|not known|not found", failed[f"{dest.host}/mirror/ghost"]["reason"], re.I
    ), failed
    assert report["images"] == {"total": 3, "done": 1, "skipped": 0, "failed": 2}
    with RegistryReader(dest.url) as reader:
        verify_all(reader, _expected(good))
        assert reader.tags("mirror/app0") == ["v1"]

    status = syncer_cli("status", report["plan"], "--output", "json")
    text = syncer_cli("status", report["plan"])

    assert status.code == 1, status
    assert status.json["state"] == "finished" and status.json["counters"]["tags_failed"] == 2
    assert {f["dest"] for f in status.json["failed"]} == set(failed)
    assert text.code == 1, text
    assert "1 synced, 0 skipped, 2 failed (of 3)" in text.out
    assert "mirror/app0:nope" in text.out and "mirror/ghost" in text.out


def test_http_pools_follow_the_worker_concurrency(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    seeded = seed_apps(
        source, 16, repos=12, tags_per_repo=1, layer_size=256 << 10, large_layer_size=0
    )
    # Slow the source down so that a dozen layer copies overlap.
    with ThrottledRelay(source.host, 1 << 20) as relay:
        auth = write_json(fleet_home / "auth.json", insecure(relay.host, dest.host))
        images = write_json(
            fleet_home / "images.json",
            {f"{relay.host}/{i.repo}:{i.tag}": f"{dest.host}/{_mirror(i.repo)}" for i in seeded},
        )
        [worker] = workers(1, auth=auth, concurrency=14)
        run = syncer_cli("plan", "--auth", auth, "--images", images, "--wait", timeout=PLAN_TIMEOUT)

    assert run.code == 0, run
    assert "Connection pool is full" not in worker.log_text()
