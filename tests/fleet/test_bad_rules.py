"""``syncer plan``: bad rules fail alone, and single images are platform-filtered, on real workers.

Real ``syncer worker`` processes on a real Redis, real ``docker-registry``
source and destination, and ``syncer plan --wait`` as the operator runs it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lab.images import build_image_set
from tests.support.faults import assert_settled
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import plan_wait, seed, write_json
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration


def test_bad_rules_fail_alone_in_a_plan(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    images = seed(source, build_image_set(3, repos=1, tags_per_repo=2, large_layer_size=0).images)
    digests = {i.tag: i.digest for i in images if i.repo == "lab/app0"}
    src, dst = f"{source.host}/lab/app0", dest.host
    auth = write_json(
        fleet_home / "auth.json",
        {
            source.host: {"insecure": True},
            dst: {"insecure": True},
            # No password: no login from this entry, as in image-syncer (the
            # destination is open, so its image copies anonymously).
            f"{dst}/locked": {"username": "robot"},
        },
    )
    rules = write_json(
        fleet_home / "images.json",
        {
            f"{src}:v1": f"{dst}/mirror/good",
            f"{source.host}/lab/App0:v1": f"{dst}/mirror/upper",
            f"{src}:/(?=v)/": f"{dst}/mirror/lookahead",
            f"{src}:/^v[[:digit:]]$/": f"{dst}/mirror/renamed:first,second",
            src: f"{dst}/mirror/one:only",  # two source tags, one destination tag
            f"{src}:v2": f"{dst}/locked/app",
            f"{src}:v1,": f"{dst}/mirror/comma",  # image-syncer copies v1 (issue 21)
            f"{src}:v1 ": f"{dst}/mirror/space",
        },
    )
    workers(1, auth=auth, concurrency=2)
    start = time.monotonic()
    run = plan_wait(syncer_cli, auth, rules, timeout=120)
    elapsed = time.monotonic() - start
    assert run.code == 1, run
    report = run.json
    assert_settled(report)
    failed = {f["rule"]: f["reason"] for f in report["failed"]}
    assert set(failed) == {
        f"{source.host}/lab/App0:v1",
        f"{src}:/(?=v)/",
        src,
        f"{src}:v1 ",
    }, failed
    assert "invalid repository name" in failed[f"{source.host}/lab/App0:v1"]
    assert "invalid perl operator" in failed[f"{src}:/(?=v)/"]
    assert "2 selected tags but 1 destination tag" in failed[src]
    assert "whitespace" in failed[f"{src}:v1 "]
    for reason in failed.values():
        assert "\n" not in reason
    assert report["images"]["done"] == 5, report["images"]
    with RegistryReader(dest.url) as reader:
        assert sorted(reader.tags("mirror/good")) == ["v1"]
        # RE2's [[:digit:]]: both tags, renamed in the source's listing order.
        assert reader.head_manifest("mirror/renamed", "first")[1] == digests["v1"]
        assert reader.head_manifest("mirror/renamed", "second")[1] == digests["v2"]
        assert sorted(reader.tags("locked/app")) == ["v2"]
        assert sorted(reader.tags("mirror/comma")) == ["v1"]
        for repo in ("mirror/upper", "mirror/lookahead", "mirror/one", "mirror/space"):
            assert reader.tags(repo) == [], repo
    assert elapsed < 110


def test_plan_filters_single_platform_images(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    """``syncer plan --arch arm64``: workers read a single image's config and skip amd64."""
    lab = build_image_set(5, repos=1, tags_per_repo=1, large_layer_size=0)
    seed(source, lab.images)
    amd64 = lab.get("lab/app0", "v1")
    docker_list = lab.get("lab/multi", "list")
    entries = json.loads(docker_list.manifests[-1].body)["manifests"]
    arm64 = next(e for e in entries if e["platform"]["architecture"] == "arm64")
    auth = write_json(
        fleet_home / "auth.json", {source.host: {"insecure": True}, dest.host: {"insecure": True}}
    )
    rules = write_json(
        fleet_home / "images.json",
        {
            f"{source.host}/lab/app0:v1": f"{dest.host}/p/amd64",
            f"{source.host}/lab/multi@{arm64['digest']}": f"{dest.host}/p/arm64:v1",
        },
    )
    workers(1, auth=auth, concurrency=2)
    run = plan_wait(syncer_cli, auth, rules, "--arch", "arm64", timeout=120)
    assert run.code == 0, run
    report = run.json
    assert_settled(report)
    assert report["images"]["skipped"] == 1 and report["images"]["done"] == 1, report["images"]
    skipped = [r for r in report["results"] if r["status"] == "skipped"]
    assert skipped[0]["source"] == f"{source.host}/lab/app0:v1"
    assert "image platform linux/amd64 does not match the platform filter" in skipped[0]["reason"]
    with RegistryReader(dest.url) as reader:
        assert reader.tags("p/amd64") == []
        assert reader.head_manifest("p/arm64", "v1")[1] == arm64["digest"]
    assert amd64.digest  # the amd64 image existed at the source
