"""``syncer sync`` end to end: config layouts, outputs, skips, mounts, filters, failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lab.images import ImageSet
from tests.support.embedded import RunSync, seed, sync_config, write_config
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure
from tests.support.verify import RegistryReader, access_log, verify_image, writes

pytestmark = pytest.mark.integration

Reader = Callable[[LabRegistry], RegistryReader]


def _images(s: str, d: str) -> dict[str, str]:
    return {
        f"{s}/lab/app0": f"{d}/mirror/app0",
        f"{s}/lab/multi:list,index": f"{d}/mirror/multi",
    }


def _expected(image_set: ImageSet) -> list[tuple[str, str, str]]:
    return [
        ("mirror/app0", "v1", image_set.get("lab/app0", "v1").digest),
        ("mirror/app0", "v2", image_set.get("lab/app0", "v2").digest),
        ("mirror/multi", "list", image_set.get("lab/multi", "list").digest),
        ("mirror/multi", "index", image_set.get("lab/multi", "index").digest),
    ]


#: The images :func:`_images` copies.
_REFS = ("lab/app0:v1", "lab/app0:v2", "lab/multi:list", "lab/multi:index")


def _seeded_config(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, path: Path
) -> tuple[Path, ImageSet]:
    """Seed :data:`_REFS` into ``source``; write a config copying them to ``dest``."""
    seeded = seed(source, image_set, *_REFS)
    return sync_config(path, _images(source.host, dest.host), source.host, dest.host), seeded


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_success_images_feed_back_as_an_unchanged_run(
    fmt: str,
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    """Split --auth/--images YAML; the success file, fed back, skips everything."""
    seed(
        source,
        image_set,
        "lab/app0:v1",
        "lab/app0:v2",
        "lab/multi:list",
        "lab/multi:index",
        "lab/multi:oci",
    )
    oci = image_set.get("lab/multi", "oci").digest
    auth = write_config(tmp_path / "auth.yaml", insecure(source.host, dest.host))
    rules = {
        **_images(source.host, dest.host),
        f"{source.host}/lab/multi@{oci}": f"{dest.host}/mirror/pinned",
    }
    images = write_config(tmp_path / "images.yml", rules)
    out = tmp_path / f"synced.{fmt}"

    first = run_sync(
        "--auth",
        auth,
        "--images",
        images,
        "--output-success-images",
        out,
        "--output-images-format",
        fmt,
    )

    assert first.code == 0, first.err
    dst = reader(dest)
    for repo, ref, digest in _expected(image_set):
        verify_image(dst, repo, ref, digest)
    text = out.read_text()
    written = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    # image-syncer's shape: every value a list (tests/compat compares the bytes).
    assert written == {
        f"{source.host}/lab/app0:v1": [f"{dest.host}/mirror/app0:v1"],
        f"{source.host}/lab/app0:v2": [f"{dest.host}/mirror/app0:v2"],
        f"{source.host}/lab/multi:index": [f"{dest.host}/mirror/multi:index"],
        f"{source.host}/lab/multi:list": [f"{dest.host}/mirror/multi:list"],
        f"{source.host}/lab/multi@{oci}": [f"{dest.host}/mirror/pinned@{oci}"],
    }
    fed_back = tmp_path / f"again.{fmt}"
    fed_back.write_text(text)

    again = run_sync("--auth", auth, "--images", fed_back, "--output", "json")

    assert again.code == 0, again.err
    assert again.report["images"] == {"total": 5, "done": 0, "skipped": 5, "failed": 0}


def test_legacy_json_config(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    config, _ = _seeded_config(source, dest, image_set, tmp_path / "config.json")

    run = run_sync("--config", config)

    assert run.code == 0, run.err
    assert "images: 4 synced, 0 skipped, 0 failed (of 4)" in run.out
    dst = reader(dest)
    for repo, ref, digest in _expected(image_set):
        verify_image(dst, repo, ref, digest)


def test_unchanged_tags_are_skipped_with_heads_only_and_force_pushes_again(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    config, _ = _seeded_config(source, dest, image_set, tmp_path / "config.yaml")
    assert run_sync(config).code == 0
    gets_before = source.server.count_requests("GET", "/manifests/")
    puts_before = dest.server.count_requests("PUT", "/manifests/")

    second = run_sync(config, "--output", "json")

    assert second.code == 0, second.err
    assert second.report["images"] == {"total": 4, "done": 0, "skipped": 4, "failed": 0}
    assert {r["reason"] for r in second.results()} == {"unchanged"}
    assert source.server.count_requests("GET", "/manifests/") == gets_before
    assert dest.server.count_requests("PUT", "/manifests/") == puts_before

    forced = run_sync(config, "--force", "--output", "json")

    assert forced.code == 0, forced.err
    assert forced.report["images"]["done"] == 4
    tag_puts = {
        a.path
        for a in access_log(dest.server)[-200:]
        if a.method == "PUT" and "/manifests/" in a.path
    }
    assert {"/v2/mirror/app0/manifests/v1", "/v2/mirror/multi/manifests/list"} <= tag_puts
    assert dest.server.count_requests("PUT", "/manifests/") > puts_before
    for repo, ref, digest in _expected(image_set):
        verify_image(reader(dest), repo, ref, digest)


def test_shared_layers_are_mounted_between_destination_repos(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/app0:v1")
    s, d = source.host, dest.host
    config = sync_config(
        tmp_path / "config.yaml",
        {f"{s}/lab/app0:v1": [f"{d}/team-a/app0", f"{d}/team-b/app0"]},
        s,
        d,
    )

    run = run_sync(config, "--output", "json")

    assert run.code == 0, run.err
    image = image_set.get("lab/app0", "v1")
    assert run.report["blobs"]["mounted"] == len(image.blobs)
    mounts = [
        a
        for a in access_log(dest.server)
        if a.method == "POST" and "/blobs/uploads/" in a.path and "mount=" in a.path
    ]
    assert len(mounts) == len(image.blobs)
    assert {a.status for a in mounts} == {201}
    # Each blob was uploaded once: the second repository only mounted.
    assert dest.server.count_requests("PUT", "/blobs/uploads/") == len(image.blobs)
    for repo in ("team-a/app0", "team-b/app0"):
        verify_image(reader(dest), repo, "v1", image.digest)


def test_dry_run_reports_and_writes_nothing(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    tmp_path: Path,
) -> None:
    config, seeded = _seeded_config(source, dest, image_set, tmp_path / "config.yaml")

    run = run_sync(config, "--dry-run")

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    copies = [line for line in lines if line.startswith("copy ")]
    assert len(copies) == 4
    for repo, ref, _ in _expected(image_set):
        assert any(f"{dest.host}/{repo}:{ref}" in line for line in copies), repo
    total = sum(b.size for b in seeded.blobs().values())
    assert lines[-1].startswith(
        f"dry run: 4 of 4 images would be copied; {len(seeded.blobs())} blobs, "
    )
    assert "to transfer (nothing was written)" in lines[-1]
    assert f"{total / 1024:.1f} KiB" in lines[-1]
    assert writes(dest.server) == []


@pytest.mark.parametrize(
    ("flags", "tag", "kept"),
    [
        (["--arch", "amd64"], "list", [("linux", "amd64"), ("windows", "amd64")]),
        (["--os", "linux", "--arch", "arm64:v8"], "list", [("linux", "arm64")]),
    ],
)
def test_platform_filter_rewrites_the_list(
    flags: list[str],
    tag: str,
    kept: list[tuple[str, str]],
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, f"lab/multi:{tag}")
    config = sync_config(
        tmp_path / "config.yaml",
        {f"{source.host}/lab/multi:{tag}": f"{dest.host}/mirror/multi"},
        source.host,
        dest.host,
    )

    run = run_sync(config, *flags)

    assert run.code == 0, run.err
    assert f"platform filter kept {len(kept)} of 4 manifests" in run.err
    dst = reader(dest)
    status, digest = dst.head_manifest("mirror/multi", tag)
    assert status == 200 and digest != image_set.get("lab/multi", tag).digest
    verify_image(dst, "mirror/multi", tag, digest)
    body, _ = dst.get_manifest("mirror/multi", tag)
    platforms = [
        (m["platform"]["os"], m["platform"]["architecture"]) for m in json.loads(body)["manifests"]
    ]
    assert platforms == kept
    # The filtered list is what the destination holds, so a second run is a no-op.
    again = run_sync(config, *flags, "--output", "json")
    assert again.code == 0 and again.report["images"]["skipped"] == 1


def test_platform_filter_that_removes_nothing_keeps_the_bytes(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/multi:index")
    config = sync_config(
        tmp_path / "config.yaml",
        {f"{source.host}/lab/multi:index": f"{dest.host}/mirror/multi"},
        source.host,
        dest.host,
    )

    run = run_sync(config, "--os", "linux")

    assert run.code == 0, run.err
    assert "platform filter kept" not in run.err
    verify_image(reader(dest), "mirror/multi", "index", image_set.get("lab/multi", "index").digest)


def _blob_data_path(registry: LabRegistry, digest: str) -> Path:
    hex_ = digest.removeprefix("sha256:")
    return (
        registry.server.storage_dir
        / "docker"
        / "registry"
        / "v2"
        / "blobs"
        / "sha256"
        / hex_[:2]
        / hex_
        / "data"
    )


def test_corrupt_source_blob_fails_that_image_only(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/app0:v1", "lab/app0:v2", "lab/app1:v1")
    bad = image_set.get("lab/app0", "v2")
    # The layer only v2 has: its own, last in the manifest.
    own = bad.blobs[-1]
    others = {b.digest for i in image_set.images if i is not bad for b in i.blobs}
    assert own.digest not in others
    data = _blob_data_path(source, own.digest)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    s, d = source.host, dest.host
    config = sync_config(
        tmp_path / "config.yaml",
        {f"{s}/lab/app0": f"{d}/mirror/app0", f"{s}/lab/app1:v1": f"{d}/mirror/app1"},
        s,
        d,
    )

    run = run_sync(config, "--output", "json")

    assert run.code == 1
    failed = run.report["failed"]
    assert [f["dest"] for f in failed] == [f"{d}/mirror/app0:v2"]
    assert "digest mismatch" in failed[0]["reason"]
    assert failed[0]["transient"] is False
    dst = reader(dest)
    assert dst.head_manifest("mirror/app0", "v2")[0] == 404
    assert dst.blob_status("mirror/app0", own.digest) == 404
    verify_image(dst, "mirror/app0", "v1", image_set.get("lab/app0", "v1").digest)
    verify_image(dst, "mirror/app1", "v1", image_set.get("lab/app1", "v1").digest)
    # Permanent: read once, never retried.
    assert source.server.count_requests("GET", f"/blobs/{own.digest}") == 1
    assert run.err.count("digest mismatch") >= 1
