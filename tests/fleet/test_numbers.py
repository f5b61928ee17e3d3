"""The numbers a plan reports mean one thing each, and agree with ``syncer sync``'s.

Against real registries, a real Redis and real workers:

* the byte total is the distinct blobs the images reference, one per
  (destination registry, digest): the same in the embedded run and the plan;
* a plan whose blobs are all mounted says "0 copied, N mounted", "0 B moved",
  and its bar's 100% is the bytes already there, in words;
* the elapsed time stops when the plan ends, however late someone asks;
* a plan that is over, finished or cancelled, shows no ETA.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from lab.images import SeedImage
from syncer.cli.planview import render
from syncer.engine.jobs import ImageResult
from syncer.engine.progress import Stats, human_bytes
from syncer.fleet.state.plans import PlanStore
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, plan_wait, seed_apps, start_plan, write_json
from tests.support.verify import RegistryReader, verify_image
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

REPOS = 3
PLAN_TIMEOUT = 120.0


@pytest.fixture
def images(source: LabRegistry) -> list[SeedImage]:
    """Three repos of two tags sharing one base layer (and a larger layer each), seeded."""
    return seed_apps(source, 71, repos=REPOS, tags_per_repo=2, layer_size=256 << 10)


def _rules(src: str, dst: str, images: list[SeedImage], into: str) -> dict[str, str]:
    return {f"{src}/{i.repo}:{i.tag}": f"{dst}/{i.repo.replace('lab/', into)}" for i in images}


def _unique_bytes(images: list[SeedImage]) -> int:
    return sum({b.digest: b.size for i in images for b in i.blobs}.values())


def _plan(cli: RunCli, auth: Path, rules: Path) -> dict[str, Any]:
    run = plan_wait(cli, auth, rules, timeout=90)
    assert run.code == 0, run
    return run.json  # type: ignore[no-any-return]


def test_embedded_and_fleet_report_the_same_totals_for_the_same_images(
    source: LabRegistry,
    registry_factory: Callable[..., Any],
    images: list[SeedImage],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    alone, fleet = LabRegistry(registry_factory()), LabRegistry(registry_factory())
    auth = write_json(fleet_home / "auth.json", insecure(source.host, alone.host, fleet.host))
    embedded_rules = write_json(
        fleet_home / "a.json", _rules(source.host, alone.host, images, "mirror/")
    )
    fleet_rules = write_json(
        fleet_home / "f.json", _rules(source.host, fleet.host, images, "mirror/")
    )
    workers(2, auth=auth, concurrency=2)

    embedded = syncer_cli(
        "sync", "--auth", auth, "--images", embedded_rules, "--output", "json",
        "--cache", fleet_home / "blobs.json", timeout=PLAN_TIMEOUT,
    )  # fmt: skip
    planned = _plan(syncer_cli, auth, fleet_rules)

    assert embedded.code == 0, embedded
    for registry in (alone, fleet):
        with RegistryReader(registry.url) as reader:
            for image in images:
                verify_image(reader, image.repo.replace("lab/", "mirror/"), image.tag, image.digest)
    unique = _unique_bytes(images)
    # The base layer all three repos share counts once, in both.
    assert unique < sum(b.size for i in images for b in {x.digest: x for x in i.blobs}.values())
    for report in (embedded.json, planned):
        assert report["bytes"] == {"total": unique, "done": unique, "skipped": 0, "failed": 0}
        assert report["blobs"]["mounted"] == REPOS - 1, report["blobs"]
        assert report["images"] == {
            "total": len(images),
            "done": len(images),
            "skipped": 0,
            "failed": 0,
        }
    assert embedded.json["blobs"] == planned["blobs"]


def test_a_plan_of_mounts_says_it_moved_nothing_and_copied_nothing(
    source: LabRegistry,
    dest: LabRegistry,
    images: list[SeedImage],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
) -> None:
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    first = write_json(fleet_home / "first.json", _rules(source.host, dest.host, images, "mirror/"))
    again = write_json(fleet_home / "again.json", _rules(source.host, dest.host, images, "copy/"))
    workers(2, auth=auth, concurrency=2)
    _plan(syncer_cli, auth, first)

    report = _plan(syncer_cli, auth, again)  # every blob is in mirror/*: mount them all
    text = syncer_cli("status", report["plan"])
    status = PlanStore(redis_client).status(report["plan"])

    assert text.code == 0, text
    with RegistryReader(dest.url) as reader:
        for image in images:
            verify_image(reader, image.repo.replace("lab/", "copy/"), image.tag, image.digest)
    unique = _unique_bytes(images)
    blobs = len({(i.repo, b.digest) for i in images for b in i.blobs})
    assert report["bytes"] == {"total": unique, "done": 0, "skipped": unique, "failed": 0}
    assert report["blobs"]["done"] == report["blobs"]["mounted"] == blobs, report["blobs"]
    assert f"blobs: 0 copied, {blobs} mounted, 0 already present" in text.out, text.out
    there = f"{human_bytes(unique)} of {human_bytes(unique)} already there"
    assert re.search(rf"moved 0 B in [\d.]+s \(0 B/s\); {re.escape(there)}", text.out), text.out
    bar = render(status).splitlines()[1]
    assert "100.0% 0 B moved + " in bar and " there / " in bar and "eta" not in bar, bar


def test_elapsed_stops_when_the_plan_ends_not_when_someone_looks(
    source: LabRegistry,
    dest: LabRegistry,
    images: list[SeedImage],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
) -> None:
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    rules = write_json(fleet_home / "i.json", _rules(source.host, dest.host, images[:2], "mirror/"))
    workers(1, auth=auth, concurrency=2)
    store = PlanStore(redis_client)
    plan = start_plan(syncer_cli, auth, rules)
    created = float(store.meta(plan)["created"])
    # Watch the counters only (they do not stop the clock), then look late.
    wait_for(
        "the plan to finish", lambda: store.finished(plan), timeout=PLAN_TIMEOUT, interval=0.05
    )
    seen_over = time.time() - created
    time.sleep(4)

    # Positive control: over the same wait, a plan that still runs shows its clock moving.
    running = store.create({"source": "control"}, images=1)
    late, control = (syncer_cli("status", p, "--output", "json") for p in (plan, running))
    time.sleep(1)
    later, moved = (syncer_cli("status", p, "--output", "json") for p in (plan, running))
    text = syncer_cli("status", plan)
    assert moved.json["elapsed_seconds"] >= control.json["elapsed_seconds"] + 1.0, moved

    assert late.code == later.code == text.code == 0, (late, later, text)
    assert late.json["images"]["done"] == 2
    elapsed = late.json["elapsed_seconds"]
    assert 0 < elapsed <= seen_over + 0.2, (elapsed, seen_over)
    assert later.json["elapsed_seconds"] == elapsed
    assert f"in {elapsed:.1f}s" in text.out, text.out


def test_a_plan_that_is_over_shows_no_eta(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)
    created = time.time()
    running, cancelled, finished = (store.create({}) for _ in range(3))
    for plan in (running, cancelled, finished):
        store.bump(plan, tags_total=2, bytes_total=4 << 20, bytes_done=1 << 20)
    store.cancel(cancelled)
    for n in range(2):
        store.record(finished, ImageResult(f"s/a:{n}", f"d/a:{n}", "synced"))
    ended = time.time()
    time.sleep(0.3)

    lines = {
        plan: render(store.status(plan), rate=1024.0).splitlines()
        for plan in (running, cancelled, finished)
    }

    assert lines[running][0].endswith("running") and " eta 3072s" in lines[running][1]
    assert lines[cancelled][0].endswith("cancelled") and "eta" not in lines[cancelled][1]
    assert lines[finished][0].endswith("finished") and "eta" not in lines[finished][1]
    # The clocks of the plans that are over stopped when they ended.
    for plan in (cancelled, finished):
        first = store.status(plan).stats().elapsed
        time.sleep(0.2)
        assert store.status(plan).stats().elapsed == pytest.approx(first, abs=0.01)
        # Ended before `ended`, however long the machine took to get there.
        assert 0 < first <= ended - created + 0.01
    assert store.status(running).stats().elapsed >= 0.3
    assert list(redis_client.scan_iter("syncer:plan:*:ended")) != []


def test_plan_counters_count_a_blob_once_per_registry_as_the_embedded_stats_do(
    redis_client: redis.Redis,
) -> None:
    store = PlanStore(redis_client)
    plan = store.create({})
    stats = Stats()
    sightings = [
        ("reg", "sha256:base", 100),
        ("reg", "sha256:base", 100),
        ("far", "sha256:base", 100),
    ]
    outcomes = [
        ("reg", "sha256:base", 100, "copied"),
        ("reg", "sha256:base", 100, "mounted"),  # into a second repository: no bytes
        ("far", "sha256:base", 100, "exists"),
        ("reg", "sha256:gone", 5, "failed"),
        ("reg", "sha256:gone", 5, "failed"),  # redelivered
    ]

    for registry, digest, size in [*sightings, ("reg", "sha256:gone", 5)]:
        store.reference(plan, registry, {digest: size})
        stats.reference(registry, digest, size)
    for registry, digest, size, outcome in outcomes:
        store.settle(plan, registry, digest, size, outcome)
        stats.settle(registry, digest, size, outcome)

    c = store.status(plan).counters
    assert (c["bytes_total"], c["bytes_skipped"], c["bytes_failed"]) == (205, 100, 5)
    assert store.status(plan).stats().bytes.to_dict() == stats.bytes.to_dict()
