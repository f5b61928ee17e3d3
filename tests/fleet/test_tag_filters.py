"""Tag filters and per-rule platforms through ``syncer plan`` on real workers.

The planner sends the filtered rule to an ``expand_rule`` task; the worker
lists, filters (reading config blobs for ``latest`` by created time) and fans
out only the kept tags. A per-rule ``platforms:`` travels with each
``sync_tag`` task and replaces the plan's ``--os``/``--arch``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.images import build_image_set
from tests.support.dated import DATED
from tests.support.faults import assert_settled
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import plan_wait, seed, write_json
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration


def test_workers_copy_exactly_what_the_filters_keep(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    lab = build_image_set(7, repos=0, large_layer_size=0)
    seed(source, [*DATED.images, lab.get("lab/multi", "list")])
    s, d = source.host, dest.host
    auth = write_json(fleet_home / "auth.json", {s: {"insecure": True}, d: {"insecure": True}})
    rules = write_json(
        fleet_home / "images.json",
        {
            f"{s}/lab/app": {
                "to": f"{d}/f/newest",
                "include": "/^v/",
                "exclude": "/-rc/",
                "latest": 2,
            },
            f"{s}/lab/app:/^[a-z]/": {"to": f"{d}/f/recent", "latest": 2},
            f"{s}/lab/multi:list": {"to": f"{d}/f/arm", "platforms": ["linux/arm64"]},
            f"{s}/lab/multi": f"{d}/f/global",
        },
    )
    workers(1, auth=auth, concurrency=2)

    run = plan_wait(syncer_cli, auth, rules, "--os", "linux", "--arch", "amd64", timeout=120)

    assert run.code == 0, run
    report = run.json
    assert_settled(report)
    assert report["images"]["done"] == 2 + 2 + 1 + 1, report["images"]
    with RegistryReader(dest.url) as reader:
        assert sorted(reader.tags("f/newest")) == ["v1.2.0", "v2.0.0"]
        assert sorted(reader.tags("f/recent")) == ["main", "sha-abc"]
        assert reader.head_manifest("f/recent", "main")[1] == DATED.get("lab/app", "main").digest
        assert sorted(reader.tags("f/arm")) == ["list"]
        arm = json.loads(reader.get_manifest("f/arm", "list")[0])["manifests"]
        assert [e["platform"]["architecture"] for e in arm] == ["arm64"]
        plain = json.loads(reader.get_manifest("f/global", "list")[0])["manifests"]
        assert [e["platform"]["architecture"] for e in plain] == ["amd64"]
