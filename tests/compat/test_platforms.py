"""``--os``/``--arch`` filter single-platform images too (issue row 5), against image-syncer.

The same rules run under three filters. A single Docker image's platform is in
its config blob, which image-syncer reads; syncer now reads it too, so an
amd64-only image is skipped under ``--arch arm64`` and an arm64 one is copied.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.content import SeedImage
from lab.images import build_image_set
from tests.support.compat import Side
from tests.support.compat_rules import Run, seeded_scenario, yaml_files
from tests.support.verify import RegistryReader

SET = build_image_set(17, repos=1, tags_per_repo=1, large_layer_size=0)
AMD64 = SET.get("lab/app0", "v1")  # Docker schema 2, linux/amd64
LIST, OCI, INDEX = (SET.get("lab/multi", t) for t in ("list", "oci", "index"))


def _child(index: SeedImage, arch: str, repo: str) -> SeedImage:
    """One platform's image out of a Docker manifest list, tagged on its own."""
    entry = next(
        m
        for m in json.loads(index.manifests[-1].body)["manifests"]
        if m["platform"]["architecture"] == arch
    )
    manifest = next(m for m in index.manifests if m.digest == entry["digest"])
    return dataclasses.replace(
        index,
        repo=repo,
        tag="v1",
        digest=manifest.digest,
        media_type=manifest.media_type,
        manifests=(manifest,),
    )


ARM64 = _child(LIST, "arm64", "lab/arm")  # Docker schema 2, linux/arm64/v8
RULES = {
    "SRC/lab/app0:v1": "DST/p/amd64",
    "SRC/lab/arm:v1": "DST/p/arm64",
    "SRC/lab/multi:list": "DST/p/list",
    "SRC/lab/multi:index": "DST/p/index",
    "SRC/lab/multi:oci": "DST/p/oci",
}


def _scenario(
    flags: list[str], image_syncer: Path, binary: str, factory: pytest.TempPathFactory
) -> Iterator[Run]:
    root = factory.mktemp("compat-platforms")
    with seeded_scenario(binary, root, [*SET.images, ARM64], yaml_files(RULES, extra=flags)) as run:
        yield run


@pytest.fixture(scope="module")
def arm64(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools under ``--arch arm64``."""
    yield from _scenario(["--arch", "arm64"], image_syncer, registry_binary, tmp_path_factory)


@pytest.fixture(scope="module")
def windows(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools under ``--os windows``."""
    yield from _scenario(["--os", "windows"], image_syncer, registry_binary, tmp_path_factory)


@pytest.fixture(scope="module")
def linux_amd64(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools under ``--os linux --arch amd64``."""
    flags = ["--os", "linux", "--arch", "amd64"]
    yield from _scenario(flags, image_syncer, registry_binary, tmp_path_factory)


def platforms(side: Side, repo: str, tag: str) -> list[str]:
    """``os/arch`` of every entry of the index at a side's destination."""
    with RegistryReader(side.dest.url) as reader:
        body, _ = reader.get_manifest(repo, tag)
    return sorted(
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in json.loads(body)["manifests"]
    )


def test_arm64_skips_an_amd64_image_and_copies_an_arm64_one(arm64: Run) -> None:
    assert arm64.oracle.code == 0 and arm64.ours.code == 0, (arm64.oracle, arm64.ours)
    assert arm64.both_tags("p/amd64") == ([], [])
    assert arm64.reported("does not match the platform filter"), arm64.ours
    assert arm64.both_tags("p/arm64") == (["v1"], ["v1"])
    for side in arm64.sides():
        assert arm64.digest(side, "p/arm64", "v1") == ARM64.digest


def test_arm64_filters_a_manifest_list(arm64: Run) -> None:
    assert arm64.both_tags("p/list") == (["list"], ["list"])
    for side in arm64.sides():
        assert platforms(side, "p/list", "list") == ["linux/arm64"]


def test_arm64_filters_an_oci_index(arm64: Run) -> None:
    assert arm64.both_tags("p/index") == (["index"], ["index"])
    for side in arm64.sides():
        assert platforms(side, "p/index", "index") == ["linux/arm64"]


@pytest.mark.differs("image-syncer never filters a single OCI image (a TODO in its code)")
def test_single_oci_image_differs_on_purpose(arm64: Run) -> None:
    """Differs on purpose: image-syncer never filters a single OCI image (a TODO in its code).

    syncer reads an OCI config as it reads a Docker one, so ``--arch arm64``
    means arm64 whatever the manifest format.
    """
    assert arm64.both_tags("p/oci") == (["oci"], [])
    assert arm64.reported("image platform linux/amd64 does not match the platform filter")


def test_windows_skips_linux_images(windows: Run) -> None:
    assert windows.oracle.code == 0 and windows.ours.code == 0, (windows.oracle, windows.ours)
    assert windows.both_tags("p/amd64") == ([], [])
    assert windows.both_tags("p/arm64") == ([], [])
    assert windows.both_tags("p/list") == (["list"], ["list"])
    for side in windows.sides():
        assert platforms(side, "p/list", "list") == ["windows/amd64"]
    # An index with no entry for the filter is skipped whole, in both.
    assert windows.both_tags("p/index") == ([], [])


def test_linux_amd64_copies_the_amd64_image_unchanged(linux_amd64: Run) -> None:
    run = linux_amd64
    assert run.oracle.code == 0 and run.ours.code == 0, (run.oracle, run.ours)
    assert run.both_tags("p/amd64") == (["v1"], ["v1"])
    for side in run.sides():
        assert run.digest(side, "p/amd64", "v1") == AMD64.digest
        assert platforms(side, "p/list", "list") == ["linux/amd64"]
    assert run.both_tags("p/arm64") == ([], [])
    assert run.both_tags("p/oci") == (["oci"], ["oci"])
