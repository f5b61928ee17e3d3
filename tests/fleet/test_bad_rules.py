"""``syncer plan``: a bad rule or auth entry fails only its own images, on real workers.

Real ``syncer worker`` processes on a real Redis, real ``docker-registry``
source and destination, and ``syncer plan --wait`` as the operator runs it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from syncer.lab.images import build_image_set
from tests.faults.helpers import assert_settled, plan_wait
from tests.fleet.conftest import RunCli, WorkerFactory
from tests.fleet.helpers import seed, write_json
from tests.support.registries import LabRegistry
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
            f"{dst}/locked": {"username": "robot"},  # no password: its images fail
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
        },
    )
    workers(1, auth=auth, concurrency=2)
    start = time.monotonic()
    run = plan_wait(syncer_cli, auth, rules, "--no-credential-check", timeout=120)
    elapsed = time.monotonic() - start
    assert run.code == 1, run
    report = run.json
    assert_settled(report)
    failed = {f["rule"]: f["reason"] for f in report["failed"]}
    assert set(failed) == {
        f"{source.host}/lab/App0:v1",
        f"{src}:/(?=v)/",
        src,
        f"{src}:v2",
    }, failed
    assert "invalid repository name" in failed[f"{source.host}/lab/App0:v1"]
    assert "invalid perl operator" in failed[f"{src}:/(?=v)/"]
    assert "2 selected tags but 1 destination tag" in failed[src]
    assert f'auth["{dst}/locked"]: username without password' in failed[f"{src}:v2"]
    for reason in failed.values():
        assert "\n" not in reason
    assert report["images"]["done"] == 3, report["images"]
    with RegistryReader(dest.url) as reader:
        assert sorted(reader.tags("mirror/good")) == ["v1"]
        # RE2's [[:digit:]]: both tags, renamed in the source's listing order.
        assert reader.head_manifest("mirror/renamed", "first")[1] == digests["v1"]
        assert reader.head_manifest("mirror/renamed", "second")[1] == digests["v2"]
        for repo in ("mirror/upper", "mirror/lookahead", "mirror/one", "locked/app"):
            assert reader.tags(repo) == [], repo
    assert elapsed < 110
