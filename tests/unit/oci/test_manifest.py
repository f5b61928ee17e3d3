"""Manifest parsing and platform filtering of image indexes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from syncer.errors import UnsupportedError
from syncer.oci import mediatypes as mt
from syncer.oci.manifest import Descriptor, PlatformFilter, filter_index, parse
from syncer.oci.models import RawManifest


def dg(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def desc(name: str, media: str = mt.OCI_LAYER, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media, "digest": dg(name), "size": size, **extra}


def raw(doc: dict[str, Any], media: str = "") -> RawManifest:
    body = json.dumps(doc).encode()
    return RawManifest(body, media, "sha256:" + hashlib.sha256(body).hexdigest())


def digests(descs: tuple[Descriptor, ...]) -> list[str]:
    return [d.digest for d in descs]


# -- parse ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media", "config", "layer"),
    [
        (mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG, mt.DOCKER_LAYER),
        (mt.OCI_MANIFEST, mt.OCI_CONFIG, mt.OCI_LAYER),
    ],
)
def test_image_lists_config_then_layers(media: str, config: str, layer: str) -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": media,
        "config": desc("cfg", config, 7),
        "layers": [desc("l1", layer), desc("l2", layer, 20), desc("l1", layer)],
    }
    parsed = parse(raw(doc, media), "x")
    assert parsed.kind == "image" and parsed.children == ()
    assert digests(parsed.blobs) == [dg("cfg"), dg("l1"), dg("l2")]
    assert parsed.blobs[0] == Descriptor(config, dg("cfg"), 7)


def test_media_type_falls_back_to_body() -> None:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": desc("c"), "layers": []}
    assert parse(raw(doc), "x").kind == "image"


@pytest.mark.parametrize("media", [mt.DOCKER_MANIFEST_LIST, mt.OCI_INDEX])
def test_index_lists_children_with_platforms(media: str) -> None:
    amd = desc("amd", mt.DOCKER_MANIFEST, platform={"os": "linux", "architecture": "amd64"})
    arm = desc(
        "arm",
        mt.DOCKER_MANIFEST,
        annotations={"a": "b"},
        platform={"os": "linux", "architecture": "arm64", "variant": "v8"},
    )
    parsed = parse(
        raw({"schemaVersion": 2, "mediaType": media, "manifests": [amd, arm]}, media), "x"
    )
    assert parsed.kind == "index" and parsed.blobs == ()
    assert digests(parsed.children) == [dg("amd"), dg("arm")]
    assert parsed.children[1].platform["variant"] == "v8"
    assert parsed.children[1].annotations == {"a": "b"}


def test_schema1_dedupes_blob_sums_in_order() -> None:
    doc = {
        "schemaVersion": 1,
        "name": "x",
        "tag": "v1",
        "fsLayers": [{"blobSum": dg("a")}, {"blobSum": dg("b")}, {"blobSum": dg("a")}],
    }
    parsed = parse(raw(doc, mt.DOCKER_MANIFEST_V1_SIGNED), "x")
    assert parsed.kind == "schema1"
    assert digests(parsed.blobs) == [dg("a"), dg("b")]
    assert all(b.size == -1 for b in parsed.blobs)  # schema1 carries no sizes


def test_schema1_recognised_without_media_type() -> None:
    doc = {"schemaVersion": 1, "fsLayers": [{"blobSum": dg("a")}]}
    assert parse(raw(doc), "x").kind == "schema1"


@pytest.mark.parametrize("layers", [[{}], ["x"], [{"blobSum": 5}]])
def test_malformed_schema1_is_unsupported(layers: list[Any]) -> None:
    with pytest.raises(UnsupportedError):
        parse(raw({"schemaVersion": 1, "fsLayers": layers}, mt.DOCKER_MANIFEST_V1), "x")


def test_unknown_artifact_with_blobs() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.example.sbom+json",
        "blobs": [desc("sbom", "application/spdx+json")],
    }
    parsed = parse(raw(doc, "application/vnd.example.sbom+json"), "x")
    assert parsed.kind == "image" and digests(parsed.blobs) == [dg("sbom")]


def test_unknown_type_without_references_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="application/x-thing"):
        parse(raw({"hello": 1}, "application/x-thing"), "x")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_non_object_is_unsupported(body: bytes) -> None:
    with pytest.raises(UnsupportedError):
        parse(RawManifest(body, mt.OCI_MANIFEST, "d"), "x")


@pytest.mark.parametrize(
    "bad", [{"size": 1}, {"digest": dg("a"), "size": -1}, {"digest": dg("a"), "size": "1"}, "str"]
)
def test_malformed_descriptor_is_unsupported(bad: Any) -> None:
    doc = {"schemaVersion": 2, "config": desc("c"), "layers": [bad]}
    with pytest.raises(UnsupportedError):
        parse(raw(doc, mt.OCI_MANIFEST), "x")


@pytest.mark.parametrize("field", [{"platform": "linux"}, {"annotations": ["a"]}])
def test_malformed_descriptor_fields_are_unsupported(field: dict[str, Any]) -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [desc("m", mt.OCI_MANIFEST, **field)],
    }
    with pytest.raises(UnsupportedError):
        parse(raw(doc, mt.OCI_INDEX), "x")


def test_descriptor_digest_is_validated() -> None:
    doc = {
        "schemaVersion": 2,
        "config": desc("c"),
        "layers": [
            {"mediaType": mt.OCI_LAYER, "digest": "sha256:../../other/manifests/x", "size": 1}
        ],
    }
    with pytest.raises(UnsupportedError):
        parse(raw(doc, mt.OCI_MANIFEST), "x")


def test_foreign_and_non_distributable_layers_are_skipped() -> None:
    doc = {
        "schemaVersion": 2,
        "config": desc("c", mt.DOCKER_CONFIG),
        "layers": [
            desc("win", mt.DOCKER_FOREIGN_LAYER, urls=["https://mcr.example/win"]),
            desc("nd", mt.OCI_NONDISTRIBUTABLE_PREFIX + "v1.tar+gzip"),
            desc("ext", mt.OCI_LAYER, urls=["https://cdn.example/ext"]),
            desc("own", mt.DOCKER_LAYER),
        ],
    }
    parsed = parse(raw(doc, mt.DOCKER_MANIFEST), "x")
    assert digests(parsed.blobs) == [dg("c"), dg("own")]


# -- the platform filter ------------------------------------------------------------------


def test_from_flags_accepts_commas_and_repeats() -> None:
    flt = PlatformFilter.from_flags(["linux, windows:10.0.17763", ""], ["amd64", "arm64:v8,arm"])
    assert flt.oses == ("linux", "windows:10.0.17763")
    assert flt.archs == ("amd64", "arm64:v8", "arm")
    assert flt.active and flt.to_dict() == {"os": list(flt.oses), "arch": list(flt.archs)}
    assert not PlatformFilter.from_flags([" , "], []).active


def test_from_dict_reads_back_what_to_dict_wrote() -> None:
    flt = PlatformFilter(("linux", "windows:10.0.17763"), ("arm64:v8",))
    assert PlatformFilter.from_dict(flt.to_dict()) == flt
    assert PlatformFilter.from_dict({"arch": ["amd64"]}) == PlatformFilter((), ("amd64",))
    # A plan or schedule stored without a filter has none.
    assert PlatformFilter.from_dict(None) == PlatformFilter.from_dict({}) == PlatformFilter()


@pytest.mark.parametrize(
    ("archs", "platform", "ok"),
    [
        (["arm64:v8"], {"architecture": "arm64", "variant": "v8"}, True),
        (["arm64:v8"], {"architecture": "arm64"}, False),
        (["arm64"], {"architecture": "arm64", "variant": "v8"}, True),
        (["arm:v7"], {"architecture": "arm", "variant": "v6"}, False),
        (["amd64", "arm:v7"], {"architecture": "arm", "variant": "v7"}, True),
        ([], {"architecture": "s390x"}, True),
    ],
)
def test_arch_and_variant(archs: list[str], platform: dict[str, str], ok: bool) -> None:
    assert PlatformFilter((), tuple(archs)).matches({"os": "linux", **platform}) is ok


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("10.0.17763", True),
        ("10.0.17763.1879", True),
        ("10.0.177630", False),
        ("10.0.20348.1", False),
        (None, False),
    ],
)
def test_windows_os_version_prefix(version: str | None, ok: bool) -> None:
    platform = {"os": "windows", "architecture": "amd64"}
    if version is not None:
        platform["os.version"] = version
    assert PlatformFilter(("windows:10.0.17763",), ()).matches(platform) is ok
    assert PlatformFilter(("windows",), ()).matches(platform)
    assert not PlatformFilter(("linux",), ()).matches(platform)


# -- filter_index ---------------------------------------------------------------------------


def entry(name: str, os: str, arch: str, **extra: Any) -> dict[str, Any]:
    return desc(name, mt.OCI_MANIFEST, platform={"os": os, "architecture": arch}, **extra)


def attestation(name: str, of: str) -> dict[str, Any]:
    return entry(
        name,
        "unknown",
        "unknown",
        annotations={
            "vnd.docker.reference.digest": dg(of),
            "vnd.docker.reference.type": "attestation-manifest",
        },
    )


def index(*entries: dict[str, Any]) -> RawManifest:
    return raw(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": list(entries),
            "annotations": {"org.example": "kept"},
        },
        mt.OCI_INDEX,
    )


def filtered(manifest: RawManifest, **flags: list[str]) -> tuple[RawManifest, int, list[str]]:
    flt = PlatformFilter.from_flags(flags.get("os", []), flags.get("arch", []))
    out, dropped = filter_index(manifest, parse(manifest, "x"), flt)
    names = [m["digest"] for m in json.loads(out.body)["manifests"]]
    return out, dropped, names


def test_nothing_dropped_returns_the_same_bytes() -> None:
    manifest = index(entry("amd", "linux", "amd64"), attestation("att", "amd"))
    out, dropped, _ = filtered(manifest, os=["linux"])
    assert out is manifest and dropped == 0


def test_inactive_filter_or_image_is_untouched() -> None:
    manifest = index(entry("amd", "linux", "amd64"))
    assert filter_index(manifest, parse(manifest, "x"), PlatformFilter()) == (manifest, 0)
    image = raw({"schemaVersion": 2, "config": desc("c"), "layers": []}, mt.OCI_MANIFEST)
    assert filter_index(image, parse(image, "x"), PlatformFilter(("linux",))) == (image, 0)


def test_dropping_rewrites_and_redigests() -> None:
    amd = entry("amd", "linux", "amd64", annotations={"keep": "me"})
    manifest = index(amd, entry("arm", "linux", "arm64"), entry("win", "windows", "amd64"))
    out, dropped, names = filtered(manifest, os=["linux"], arch=["amd64"])
    assert dropped == 2 and names == [dg("amd")]
    assert out.media_type == mt.OCI_INDEX
    assert out.digest == "sha256:" + hashlib.sha256(out.body).hexdigest() != manifest.digest
    doc = json.loads(out.body)
    assert doc["manifests"] == [amd] and doc["annotations"] == {"org.example": "kept"}
    assert doc["schemaVersion"] == 2


def test_attestations_follow_their_image() -> None:
    manifest = index(
        entry("amd", "linux", "amd64"),
        entry("arm", "linux", "arm64"),
        attestation("att-amd", "amd"),
        attestation("att-arm", "arm"),
    )
    _, dropped, names = filtered(manifest, arch=["arm64"])
    assert dropped == 2 and names == [dg("arm"), dg("att-arm")]


def test_nested_indexes_and_platformless_entries() -> None:
    nested = desc("nested", mt.OCI_INDEX)
    bare = desc("bare", mt.OCI_MANIFEST)  # no platform: the filter cannot keep it
    manifest = index(entry("amd", "linux", "amd64"), nested, bare, entry("ppc", "linux", "ppc64le"))
    _, dropped, names = filtered(manifest, arch=["amd64"])
    assert dropped == 2 and names == [dg("amd"), dg("nested")]


def test_json_nested_past_the_recursion_limit_is_unsupported_not_a_crash() -> None:
    deep = b'{"manifests": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(UnsupportedError, match="manifest is not JSON"):
        parse(RawManifest(deep, mt.OCI_INDEX, "sha256:" + "0" * 64), "x")
