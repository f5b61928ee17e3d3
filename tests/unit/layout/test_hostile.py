"""A layout on disk is input: caps, links, odd files and bad digests are refused, not followed."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from syncer.engine.blobreader import SourceReader
from syncer.errors import DigestMismatchError, LayoutError, UnsupportedError
from syncer.layout.client import LayoutClient
from syncer.layout.index import LAYOUT_FILE_BODY
from tests.support.layout_kit import digest_of, layout_repo, small_image, upload, write_image


def _layout(root: Path, manifests: list[object]) -> Path:
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_bytes(LAYOUT_FILE_BODY)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return root


def test_an_index_json_over_its_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _layout(tmp_path / "big", [])
    monkeypatch.setenv("SYNCER_MAX_LAYOUT_INDEX", "100")
    (root / "index.json").write_text(json.dumps({"manifests": [], "pad": "x" * 200}))

    with pytest.raises(LayoutError, match="cap"):
        list(LayoutClient().list_tags(layout_repo(root)))


@pytest.mark.parametrize("digest", ["sha256:../../../etc/passwd", "md5:abc", "sha256:ABC"])
def test_a_digest_that_could_leave_the_layout_is_refused(tmp_path: Path, digest: str) -> None:
    entry = {"mediaType": "x", "digest": digest, "size": 1, "annotations": {}}
    root = _layout(tmp_path / "bad", [entry])

    with pytest.raises(UnsupportedError):
        LayoutClient().head_manifest(layout_repo(root), "v1")
    with pytest.raises(UnsupportedError):
        LayoutClient().blob_exists(layout_repo(root), digest)


def test_a_blob_that_is_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"not yours")
    root = _layout(tmp_path / "links", [])
    digest = digest_of(b"not yours")
    (root / "blobs" / "sha256" / digest[7:]).symlink_to(secret)
    client = LayoutClient()

    assert not client.blob_exists(layout_repo(root), digest)
    with pytest.raises(LayoutError, match="symbolic link"):
        client.open_blob(layout_repo(root), digest)


def test_a_fifo_named_as_a_blob_is_refused_without_blocking(tmp_path: Path) -> None:
    root = _layout(tmp_path / "fifo", [])
    digest = digest_of(b"x")
    os.mkfifo(root / "blobs" / "sha256" / digest[7:])

    with pytest.raises(LayoutError, match="not a regular file"):
        LayoutClient().open_blob(layout_repo(root), digest)


def test_tampered_bytes_are_caught_when_read(tmp_path: Path) -> None:
    repo, image = layout_repo(tmp_path / "app"), small_image("app")
    client = LayoutClient()
    write_image(client, repo, "v1", image)
    client.close()
    for data in (image.layer, image.manifest.body):
        path = tmp_path / "app" / "blobs" / "sha256" / digest_of(data)[7:]
        path.write_bytes(data[:-1] + b"!")

    with pytest.raises(DigestMismatchError):
        LayoutClient().get_manifest(repo, "v1")
    reader = SourceReader(LayoutClient(), repo, digest_of(image.layer))
    with pytest.raises(DigestMismatchError):
        b"".join(reader.take(len(image.layer)))
        reader.verify(len(image.layer))
    reader.close()


def test_a_manifest_over_its_cap_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, image = layout_repo(tmp_path / "app"), small_image("app")
    client = LayoutClient()
    write_image(client, repo, "v1", image)
    client.close()
    monkeypatch.setenv("SYNCER_MAX_MANIFEST", "64")

    with pytest.raises(UnsupportedError, match="cap"):
        LayoutClient().get_manifest(repo, "v1")


def test_a_directory_that_is_not_a_layout_is_never_written_into(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")

    client = LayoutClient()
    with pytest.raises(LayoutError, match="not an OCI image layout"):
        upload(client, layout_repo(tmp_path / "home"), b"data")
    client.close()
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["notes.txt"]


def test_a_layout_another_process_writes_is_refused(tmp_path: Path) -> None:
    repo = layout_repo(tmp_path / "app")
    first = LayoutClient()
    upload(first, repo, b"first")
    first.close()
    other = os.open(tmp_path / "app", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        second = LayoutClient()
        with pytest.raises(LayoutError, match="another process"):
            upload(second, repo, b"second")
        second.close()
    finally:
        os.close(other)


def test_an_oci_layout_file_of_another_version_is_refused(tmp_path: Path) -> None:
    root = _layout(tmp_path / "v2", [])
    (root / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')

    with pytest.raises(LayoutError, match="1.0.0"):
        list(LayoutClient().list_tags(layout_repo(root)))
