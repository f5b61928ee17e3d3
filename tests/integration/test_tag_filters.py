"""Tag filters and per-rule platforms of the object form, end to end through ``syncer sync``.

Real source and destination registries; each rule copies to its own
destination repository, and the test checks exactly which tags arrived.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab.images import ImageSet as LabImageSet
from syncer.cli.main import main
from tests.support.dated import DATED
from tests.support.embedded import RunSync, seed, write_config
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration


def tags_at(reader: RegistryReader, repo: str) -> list[str]:
    return sorted(reader.tags(repo))


def platforms_at(reader: RegistryReader, repo: str, tag: str) -> list[str]:
    body, _ = reader.get_manifest(repo, tag)
    entries = json.loads(body)["manifests"]
    return [f"{e['platform']['os']}/{e['platform']['architecture']}" for e in entries]


def test_each_filter_copies_exactly_the_tags_it_keeps(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: LabImageSet,
    run_sync: RunSync,
    reader: Callable[[LabRegistry], RegistryReader],
    tmp_path: Path,
) -> None:
    seed(source, DATED)
    seed(source, image_set, "lab/multi:list")
    s, d = source.host, dest.host
    images: dict[str, Any] = {
        f"{s}/lab/app": {"to": f"{d}/f/include", "include": "/^v/", "exclude": [r"/-rc\d*$/"]},
        f"{s}/lab/app:/^/": {"to": f"{d}/f/semver", "semver": ">=1.1, <2"},
        f"{s}/lab/app:/./": {"to": f"{d}/f/newest", "include": "/^v/", "latest": 2},
        f"{s}/lab/app:/.*/": {"to": f"{d}/f/recent", "latest": 3},
        f"{s}/lab/app:/^v1/": {"to": f"{d}/f/regex", "exclude": "/-rc/"},
        f"{s}/lab/multi:list": [f"{d}/f/global"],
        f"{s}/lab/multi": {"to": f"{d}/f/arm", "include": "/^list$/", "platforms": ["linux/arm64"]},
    }
    config = write_config(tmp_path / "config.yaml", {"auth": insecure(s, d), "images": images})

    run = run_sync(config, "--os", "linux", "--arch", "amd64", "--output", "json")

    assert run.code == 0, run.err
    r = reader(dest)
    assert tags_at(r, "f/include") == ["v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0"]
    assert tags_at(r, "f/semver") == ["v1.1.0", "v1.2.0", "v1.2.0-rc1"]
    assert tags_at(r, "f/newest") == ["v1.2.0", "v2.0.0"]  # by semver
    assert tags_at(r, "f/recent") == ["main", "sha-abc", "v2.0.0"]  # by created time
    assert tags_at(r, "f/regex") == ["v1.0.0", "v1.1.0", "v1.2.0"]
    for tag in ("v1.0.0", "v2.0.0"):
        assert r.head_manifest("f/include", tag)[1] == DATED.get("lab/app", tag).digest
    # --os linux --arch amd64 for the plain rule; the rule's own platforms replace it.
    assert platforms_at(r, "f/global", "list") == ["linux/amd64"]
    assert platforms_at(r, "f/arm", "list") == ["linux/arm64"]
    assert tags_at(r, "f/arm") == ["list"]


def _dry_run_config(source: LabRegistry, dest: LabRegistry, path: Path) -> Path:
    s, d = source.host, dest.host
    images = {
        f"{s}/lab/app": {
            "to": f"{d}/f/x",
            "include": "/^v/",
            "exclude": "/-rc/",
            "semver": "<2",
            "latest": 2,
        },
        f"{s}/lab/app:/^(main|old-build|sha-abc)$/": {"to": f"{d}/f/y", "latest": 1},
        f"{s}/lab/app:v2.0.0": f"{d}/f/plain",
    }
    return write_config(path, {"auth": insecure(s, d), "images": images})


def _expected_filter_lines(s: str) -> list[str]:
    app, builds = f'"{s}/lab/app"', f'"{s}/lab/app:/^(main|old-build|sha-abc)$/"'
    return [
        f"filter {app}: 8 tags selected by the key",
        f"filter {app}: include /^v/ kept 5 of 8",
        f"filter {app}: include /^v/ dropped main: matches no include regex",
        f"filter {app}: include /^v/ dropped old-build: matches no include regex",
        f"filter {app}: include /^v/ dropped sha-abc: matches no include regex",
        f"filter {app}: exclude /-rc/ kept 4 of 5",
        f"filter {app}: exclude /-rc/ dropped v1.2.0-rc1: matches /-rc/",
        f'filter {app}: semver "<2" kept 3 of 4',
        f'filter {app}: semver "<2" dropped v2.0.0: outside the range',
        f"filter {app}: latest 2 kept 2 of 3 (by semver)",
        f"filter {app}: latest 2 dropped v1.0.0: not among the newest 2 by semver",
        f"filter {app}: kept v1.1.0, v1.2.0",
        f"filter {builds}: 3 tags selected by the key",
        f"filter {builds}: latest 1 kept 1 of 3 (by created time)",
        f"filter {builds}: latest 1 dropped main: not among the newest 1 by created time",
        f"filter {builds}: latest 1 dropped old-build: not among the newest 1 by created time",
        f"filter {builds}: kept sha-abc",
    ]


def test_sync_dry_run_says_what_each_filter_kept_and_dropped(
    source: LabRegistry, dest: LabRegistry, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, DATED)
    config = _dry_run_config(source, dest, tmp_path / "config.yaml")

    run = run_sync(config, "--dry-run")

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert [line for line in lines if line.startswith("filter")] == _expected_filter_lines(
        source.host
    )
    d = dest.host
    copied = sorted(line.split(" -> ")[1].split(": ")[0] for line in lines if line[:4] == "copy")
    assert copied == [
        f"{d}/f/plain:v2.0.0",
        f"{d}/f/x:v1.1.0",
        f"{d}/f/x:v1.2.0",
        f"{d}/f/y:sha-abc",
    ]
    with RegistryReader(dest.url) as r:
        assert all(r.tags(repo) == [] for repo in ("f/x", "f/y", "f/plain"))


def test_plan_dry_run_lists_the_filters_before_its_tasks(
    source: LabRegistry, dest: LabRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Redis: the planner lists the filtered rules' tags itself, then previews its tasks."""
    seed(source, DATED)
    config = _dry_run_config(source, dest, tmp_path / "config.yaml")
    capsys.readouterr()

    code = main(["plan", "--config", str(config), "--dry-run", "--redis", "redis://127.0.0.1:9/0"])

    assert code == 0
    s, d = source.host, dest.host
    assert capsys.readouterr().out.splitlines() == [
        *_expected_filter_lines(s),
        f"expand_rule {s}/lab/app",
        f"expand_rule {s}/lab/app:/^(main|old-build|sha-abc)$/",
        f"image {s}/lab/app:v2.0.0 -> {d}/f/plain:v2.0.0",
        "dry run: 2 expand_rule task(s) and 1 image(s) in 1 sync_tags task(s) would be enqueued "
        "(nothing was sent)",
    ]
