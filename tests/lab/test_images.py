"""The seeded image-set generator: determinism, validity and composition."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

import pytest

from lab.images import ImageSet, SeedImage, build_image_set, sha256
from lab.registry import LabError
from syncer.oci import mediatypes as mt


def _json(image: SeedImage, digest: str | None = None) -> dict[str, Any]:
    want = digest or image.digest
    body = next(m.body for m in image.manifests if m.digest == want)
    return dict(json.loads(body))


def test_same_seed_gives_identical_bytes() -> None:
    assert build_image_set(7) == build_image_set(7)


def test_other_seed_gives_other_content() -> None:
    a, b = build_image_set(0), build_image_set(1)
    assert set(a.blobs()).isdisjoint(b.blobs())


def test_content_of_an_image_does_not_depend_on_the_set_size() -> None:
    small = build_image_set(3, repos=1, tags_per_repo=1)
    big = build_image_set(3, repos=4, tags_per_repo=3)
    assert small.get("lab/app0", "v1") == big.get("lab/app0", "v1")


def test_every_digest_and_size_matches_the_bytes(image_set: ImageSet) -> None:
    for image in image_set.images:
        for blob in image.blobs:
            assert blob.digest == sha256(blob.data) and blob.size == len(blob.data)
        for manifest in image.manifests:
            assert manifest.digest == sha256(manifest.body)
        assert image.manifests[-1].digest == image.digest
        assert image.manifests[-1].media_type == image.media_type


def test_manifests_reference_only_what_the_image_carries_children_first(
    image_set: ImageSet,
) -> None:
    for image in image_set.images:
        seen: dict[str, int] = {}
        blobs = {b.digest: b for b in image.blobs}
        for manifest in image.manifests:
            doc = json.loads(manifest.body)
            assert doc["schemaVersion"] == 2 and doc["mediaType"] == manifest.media_type
            for child in doc.get("manifests", []):
                assert seen[child["digest"]] == child["size"]  # pushed before its parent
            for desc in [doc["config"], *doc["layers"]] if "config" in doc else []:
                assert blobs[desc["digest"]].size == desc["size"]
                assert blobs[desc["digest"]].media_type == desc["mediaType"]
            seen[manifest.digest] = manifest.size


def test_layers_are_gzipped_tars_matching_the_config_diff_ids(image_set: ImageSet) -> None:
    image = image_set.get("lab/app1", "v2")
    doc = _json(image)
    blobs = {b.digest: b for b in image.blobs}
    config = json.loads(blobs[doc["config"]["digest"]].data)
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert len(config["history"]) == len(doc["layers"])
    for desc, diff_id in zip(doc["layers"], config["rootfs"]["diff_ids"], strict=True):
        raw = gzip.decompress(blobs[desc["digest"]].data)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            files = [m for m in tar.getmembers() if m.isfile()]
        assert len(files) == 3 and all(m.mtime > 0 for m in files)


def test_default_set_has_every_kind_of_manifest(image_set: ImageSet) -> None:
    kinds = {(i.repo, i.tag): i.media_type for i in image_set.images}
    for r in range(3):
        assert kinds[(f"lab/app{r}", "v1")] == kinds[(f"lab/app{r}", "v2")] == mt.DOCKER_MANIFEST
    assert kinds[("lab/large", "v1")] == mt.DOCKER_MANIFEST
    assert kinds[("lab/multi", "list")] == mt.DOCKER_MANIFEST_LIST
    assert kinds[("lab/multi", "oci")] == mt.OCI_MANIFEST
    assert kinds[("lab/multi", "index")] == kinds[("lab/multi", "nested")] == mt.OCI_INDEX


def test_manifest_list_has_four_platforms(image_set: ImageSet) -> None:
    platforms = [e["platform"] for e in _json(image_set.get("lab/multi", "list"))["manifests"]]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
        {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2227"},
    ]


def test_nested_index_holds_the_oci_index(image_set: ImageSet) -> None:
    nested, index = image_set.get("lab/multi", "nested"), image_set.get("lab/multi", "index")
    entries = _json(nested)["manifests"]
    assert entries[0] == {
        "mediaType": mt.OCI_INDEX,
        "size": len(index.manifests[-1].body),
        "digest": index.digest,
    }
    assert entries[1]["mediaType"] == mt.OCI_MANIFEST
    assert set(index.manifests) <= set(nested.manifests)


def test_base_layer_is_shared_across_repos(image_set: ImageSet) -> None:
    first_layers = {
        _json(image_set.get(f"lab/app{r}", "v1"))["layers"][0]["digest"] for r in range(3)
    }
    assert len(first_layers) == 1
    oci_layers = [d["digest"] for d in _json(image_set.get("lab/multi", "oci"))["layers"]]
    assert first_layers <= set(oci_layers)


def test_docker_json_is_indented_and_oci_json_compact(image_set: ImageSet) -> None:
    assert b'\n   "schemaVersion": 2' in image_set.get("lab/app0", "v1").manifests[-1].body
    assert image_set.get("lab/multi", "oci").manifests[-1].body.startswith(b'{"schemaVersion":2')


def test_sizes_are_configurable() -> None:
    images = build_image_set(0, repos=2, tags_per_repo=3, layer_size=1000, large_layer_size=300_000)
    assert [i.tag for i in images.images if i.repo == "lab/app1"] == ["v1", "v2", "v3"]
    large = max(images.get("lab/large", "v1").blobs, key=lambda b: b.size)
    assert large.size > 300_000  # random content does not compress
    assert "lab/large" not in build_image_set(0, large_layer_size=0).repos


@pytest.mark.parametrize("kwargs", [{"repos": -1}, {"tags_per_repo": 0}, {"layer_size": 0}])
def test_rejects_nonsense(kwargs: dict[str, int]) -> None:
    with pytest.raises(LabError):
        build_image_set(0, **kwargs)
