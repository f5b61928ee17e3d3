"""``syncer plan --referrers`` on real workers: referrers are ``sync_tag`` tasks too.

Each referrer found by a worker is counted in the plan and copied by its own
task, so ``syncer status`` shows it as an image; the destination (distribution
2.8, no referrers API) gets the same tag-schema listing as the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.artifacts import SBOM, build_artifact, push_referrer
from lab.images import ImageSet, build_image_set, push_image_set
from tests.support.faults import assert_settled
from tests.support.hostile import HostileRegistry
from tests.support.hostile_trees import referrer_storm
from tests.support.processes import RunCli, WorkerFactory
from tests.support.referrers import same_referrers, sign, subjects
from tests.support.referrers_api import ReferrersProxy
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, plan_wait, seed, write_json

pytestmark = pytest.mark.integration


def _plan(cli: RunCli, auth: Path, rules: Path) -> dict[str, Any]:
    """``syncer plan --referrers --wait`` that exits 0; its JSON report."""
    run = plan_wait(cli, auth, rules, "--referrers", timeout=120)
    assert run.code == 0, run
    return run.json


def test_workers_copy_referrers_of_images_indexes_and_children_and_later_ones_on_a_resync(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    lab = build_image_set(0, repos=0, large_layer_size=0)
    seed(source, [lab.get("lab/multi", "oci"), lab.get("lab/multi", "index")])
    arts = [a for s in subjects(lab) for a in sign(source.url, s, "fallback")]
    s, d = source.host, dest.host
    auth = write_json(fleet_home / "auth.json", insecure(s, d))
    rules = write_json(fleet_home / "images.json", {f"{s}/lab/multi:oci,index": f"{d}/m/multi"})
    workers(1, auth=auth, concurrency=2)

    report = _plan(syncer_cli, auth, rules)

    assert_settled(report)
    assert report["images"]["done"] == 2 + len(arts), report["images"]
    same_referrers(source.url, dest.url, arts, src_api=False, dst_api=False, repo="m/multi")

    later = build_artifact(subjects(lab)[0], SBOM, b"a second SBOM, added after the first plan")
    push_referrer(source.url, "lab/multi", later, "fallback")
    again = _plan(syncer_cli, auth, rules)

    assert_settled(again)
    # Referrers the destination already lists are not tasks again: only the new one is.
    assert again["images"]["done"] == 1, again["images"]
    assert again["images"]["skipped"] == 2, again["images"]
    same_referrers(
        source.url, dest.url, [*arts, later], src_api=False, dst_api=False, repo="m/multi"
    )


def test_workers_copy_api_referrers_to_a_registry_with_the_api(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    lab = build_image_set(0, repos=0, large_layer_size=0)
    with ReferrersProxy(source.host) as src, ReferrersProxy(dest.host) as dst:
        push_image_set(
            src.url, ImageSet((lab.get("lab/multi", "oci"), lab.get("lab/multi", "index")))
        )
        arts = [a for s in subjects(lab) for a in sign(src.url, s, "api")]
        auth = write_json(fleet_home / "auth.json", insecure(src.host, dst.host))
        rules = write_json(
            fleet_home / "images.json", {f"{src.host}/lab/multi:oci,index": f"{dst.host}/m/multi"}
        )
        workers(1, auth=auth, concurrency=2)

        report = _plan(syncer_cli, auth, rules)

        assert_settled(report)
        assert report["images"]["done"] == 2 + len(arts), report["images"]
        same_referrers(src.url, dst.url, arts, src_api=True, dst_api=True, repo="m/multi")
        # The destination lists them itself: no tag-schema index was written there.
        assert not dst.recorded("PUT", r"/manifests/sha256-")


def test_a_no_op_plan_asks_the_destination_nothing_once_its_synced_marks_are_in_redis(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    lab = build_image_set(0, repos=0, large_layer_size=0)
    seed(source, [lab.get("lab/multi", "oci")])
    subject = subjects(lab)[0]
    arts = sign(source.url, subject, "fallback")
    s, d = source.host, dest.host
    auth = write_json(fleet_home / "auth.json", insecure(s, d))
    rules = write_json(fleet_home / "images.json", {f"{s}/lab/multi:oci": f"{d}/m/multi"})
    workers(1, auth=auth, concurrency=2)
    _plan(syncer_cli, auth, rules)
    # The first no-op finds every referrer listed at the destination and marks it so.
    _plan(syncer_cli, auth, rules)
    asked = [dest.server.count_requests("GET", p) for p in ("/manifests/sha256-", "/referrers/")]

    report = _plan(syncer_cli, auth, rules)

    assert report["images"]["skipped"] == 1 and report["images"]["done"] == 0, report
    now = [dest.server.count_requests("GET", p) for p in ("/manifests/sha256-", "/referrers/")]
    assert now == asked
    # A new referrer changes the source's answer, so the mark no longer holds.
    later = build_artifact(subject, SBOM, b"an SBOM added after the marks were written")
    push_referrer(source.url, "lab/multi", later, "fallback")
    again = _plan(syncer_cli, auth, rules)
    assert again["images"]["done"] == 1, again["images"]
    same_referrers(
        source.url, dest.url, [*arts, later], src_api=False, dst_api=False, repo="m/multi"
    )


def test_a_referrer_storm_stops_at_the_cap_per_image_across_workers_tasks(
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    # Ten referrers per subject at every depth; at most 25 per image in all.
    src = HostileRegistry(lifetime=150).start()
    try:
        storm = referrer_storm(src, "lab/app", "v1", per_subject=10)
        auth = write_json(fleet_home / "auth.json", insecure(src.host, dest.host))
        rules = write_json(
            fleet_home / "images.json", {f"{src.host}/lab/app:v1": f"{dest.host}/m/app"}
        )
        workers(1, auth=auth, concurrency=2, env={"SYNCER_MAX_IMAGE_REFERRERS": "25"})

        run = plan_wait(syncer_cli, auth, rules, "--referrers", timeout=120)

        assert run.code == 1, run
        report = run.json
        root = f"{src.host}/lab/app:v1 -> {dest.host}/m/app:v1"
        reasons = {f["reason"] for f in report["failed"]}
        assert any(f"referrers of {root}: more than 25 in all" in r for r in reasons), reasons
        # The image and the referrers handed out before the tally passed 25; no more were sent.
        assert report["images"]["total"] <= 1 + 25, report["images"]
        assert report["images"]["failed"] >= 1 and report["images"]["done"] >= 1
        assert storm.listed <= 1 + 10 + 1, "subjects are listed only while under the cap"
    finally:
        src.stop()
