"""Large fan-outs: a repository with more tags than one chunk is published by several tasks.

How the chunks are built is unit-tested in ``tests/unit/fleet/test_enqueue.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from lab.images import build_image_set
from syncer.fleet.steps.enqueue import FANOUT_DIRECT
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, plan_wait, seed, small_image, write_json
from tests.support.verify import RegistryReader

TAGS = FANOUT_DIRECT + 100


@pytest.mark.integration
def test_a_repository_with_many_tags_syncs_through_chunked_fan_out(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    image = small_image(3)
    seed(source, [image])
    body = next(m for m in image.manifests if m.digest == image.digest).body
    tags = [f"t{i}" for i in range(TAGS)]
    with requests.Session() as session, ThreadPoolExecutor(8) as pool:

        def put(tag: str) -> int:
            url = f"{source.url}/v2/{image.repo}/manifests/{tag}"
            headers = {"Content-Type": image.media_type}
            return session.put(url, data=body, headers=headers, timeout=30).status_code

        assert set(pool.map(put, tags)) == {201}
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    images = write_json(
        fleet_home / "images.json", {f"{source.host}/{image.repo}": f"{dest.host}/mirror/many"}
    )
    workers(2, auth=auth, concurrency=4)

    run = plan_wait(syncer_cli, auth, images, timeout=240)

    assert run.code == 0, run
    counters = run.json["counters"]
    assert counters["tags_total"] == counters["tags_done"] == TAGS + 1  # + the seeded v1
    with RegistryReader(dest.url) as dst:
        for tag in ("v1", tags[0], tags[-1], tags[TAGS // 2]):
            assert dst.head_manifest("mirror/many", tag) == (200, image.digest)


@pytest.mark.integration
def test_an_image_named_by_two_rules_is_copied_once_and_the_plan_finishes(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    images = build_image_set(5, repos=1, tags_per_repo=2, large_layer_size=0).images
    seeded = seed(source, [i for i in images if i.repo == "lab/app0"])
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    rules = write_json(
        fleet_home / "images.json",
        {
            f"{source.host}/lab/app0:v1": f"{dest.host}/mirror/app0",
            f"{source.host}/lab/app0:v1,v2": f"{dest.host}/mirror/app0",
            f"{source.host}/lab/app0": f"{dest.host}/mirror/app0",  # expanded on a worker
        },
    )
    workers(2, auth=auth, concurrency=3)

    run = plan_wait(syncer_cli, auth, rules, timeout=120)

    assert run.code == 0, run
    report = run.json
    c = report["counters"]
    assert report["state"] == "finished"
    assert c["tags_done"] == 2, "each (source, destination) is copied and recorded once"
    assert c["tags_done"] + c["tags_skipped"] + c["tags_failed"] == c["tags_total"]
    with RegistryReader(dest.url) as dst:
        for image in seeded:
            assert dst.head_manifest("mirror/app0", image.tag) == (200, image.digest)
