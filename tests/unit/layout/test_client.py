"""LayoutClient: the registry operations on an OCI image layout directory."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.engine.blobreader import SourceReader
from syncer.engine.transfer import BlobCopier
from syncer.errors import DigestMismatchError, HTTPError, NotFoundError, UnsupportedError
from syncer.layout.client import LayoutClient
from syncer.layout.index import REF_NAME
from syncer.layout.store import PARTIAL_DIR
from syncer.oci import mediatypes
from syncer.oci.manifest import Descriptor
from syncer.oci.models import RawManifest, SizedBody
from syncer.registry.api import Registry
from tests.support.layout_kit import digest_of, layout_repo, small_image, upload, write_image


@pytest.fixture
def client() -> Iterator[LayoutClient]:
    layouts = LayoutClient()
    yield layouts
    layouts.close()


def test_a_pushed_image_reads_back_by_tag_and_digest(client: LayoutClient, tmp_path: Path) -> None:
    repo, image = layout_repo(tmp_path / "app"), small_image("app")
    write_image(client, repo, "v1", image)

    head = client.head_manifest(repo, "v1")
    assert head is not None and head.digest == image.manifest.digest
    assert client.get_manifest(repo, "v1") == image.manifest
    assert client.get_manifest(repo, image.manifest.digest).body == image.manifest.body
    assert list(client.list_tags(repo)) == ["v1"]
    entry = json.loads((tmp_path / "app" / "index.json").read_text())["manifests"][0]
    assert entry == {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": image.manifest.digest,
        "size": len(image.manifest.body),
        "annotations": {REF_NAME: "v1"},
    }
    assert json.loads((tmp_path / "app" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"
    }


def test_the_layout_client_is_a_registry(client: LayoutClient) -> None:
    registry: Registry = client  # mypy checks the protocol here
    assert registry.head_manifest(layout_repo(Path("/nonexistent/x")), "v1") is None


def test_a_retag_replaces_the_entry_and_a_missing_tag_is_not_found(
    client: LayoutClient, tmp_path: Path
) -> None:
    repo = layout_repo(tmp_path / "app")
    one, two = small_image("one"), small_image("two")
    write_image(client, repo, "v1", one)
    write_image(client, repo, "v1", two)

    assert client.get_manifest(repo, "v1").digest == two.manifest.digest
    assert len(json.loads((tmp_path / "app" / "index.json").read_text())["manifests"]) == 1
    with pytest.raises(NotFoundError) as err:
        client.get_manifest(repo, "v9")
    assert err.value.codes == ["MANIFEST_UNKNOWN"]


def test_a_manifest_whose_blobs_are_missing_is_refused_as_a_registry_would(
    client: LayoutClient, tmp_path: Path
) -> None:
    repo, image = layout_repo(tmp_path / "app"), small_image("app")
    upload(client, repo, image.config)

    with pytest.raises(NotFoundError) as err:
        client.put_manifest(repo, "v1", image.manifest)

    assert err.value.codes == ["MANIFEST_BLOB_UNKNOWN"]
    assert client.head_manifest(repo, "v1") is None


def test_blobs_an_earlier_export_carried_count_as_present(tmp_path: Path) -> None:
    image = small_image("app")
    since = frozenset({digest_of(image.layer)})
    layouts = LayoutClient(since=since)
    repo = layout_repo(tmp_path / "app")
    try:
        assert layouts.blob_exists(repo, digest_of(image.layer))
        upload(layouts, repo, image.config)
        layouts.put_manifest(repo, "v1", image.manifest)
    finally:
        layouts.close()
    assert not (tmp_path / "app" / "blobs" / "sha256" / digest_of(image.layer)[7:]).exists()
    with pytest.raises(NotFoundError, match="import that one first"):
        LayoutClient(since=since).open_blob(repo, digest_of(image.layer))


def test_bytes_that_do_not_match_never_reach_their_final_name(
    client: LayoutClient, tmp_path: Path
) -> None:
    repo = layout_repo(tmp_path / "app")
    session = client.start_upload(repo)

    with pytest.raises(DigestMismatchError):
        client.finish_upload(repo, session, digest_of(b"good"), b"evil")

    assert list((tmp_path / "app" / "blobs").rglob("*")) == []
    assert list((tmp_path / "app" / PARTIAL_DIR).iterdir()) == []


def test_an_interrupted_write_leaves_no_blob_and_a_rerun_finishes(tmp_path: Path) -> None:
    repo, data = layout_repo(tmp_path / "app"), b"x" * 10_000
    first = LayoutClient()
    session = first.start_upload(repo)

    def cut_off() -> Iterator[bytes]:
        yield data[:4000]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        first.finish_upload(repo, session, digest_of(data), cut_off())
    assert not first.blob_exists(repo, digest_of(data))
    assert (tmp_path / "app" / PARTIAL_DIR / session).stat().st_size == 4000
    first.release()
    # What a run killed with -9 leaves behind: a partial file and no one to remove it.
    (tmp_path / "app" / PARTIAL_DIR).mkdir()
    (tmp_path / "app" / PARTIAL_DIR / ("0" * 32)).write_bytes(data[:4000])

    again = LayoutClient()
    upload(again, repo, data)  # the next run clears what the last one left, and finishes
    assert list((tmp_path / "app" / PARTIAL_DIR).iterdir()) == []
    again.close()
    assert (tmp_path / "app" / "blobs" / "sha256" / digest_of(data)[7:]).read_bytes() == data
    assert not (tmp_path / "app" / PARTIAL_DIR).exists()


def test_a_large_blob_goes_layout_to_layout_in_chunks(client: LayoutClient, tmp_path: Path) -> None:
    src, dst, data = (
        layout_repo(tmp_path / "a"),
        layout_repo(tmp_path / "b"),
        bytes(range(256)) * 400,
    )
    digest = upload(client, src, data)
    other = LayoutClient()  # a client of its own, which would otherwise link the blob from a
    copier = BlobCopier(client, other, chunked_threshold=1, upload_chunk=7_000)

    outcome = copier.copy(src, dst, Descriptor("application/octet-stream", digest, len(data)))

    other.close()
    assert outcome == "copied"
    assert (tmp_path / "b" / "blobs" / "sha256" / digest[7:]).read_bytes() == data


def test_a_chunk_at_the_wrong_offset_is_refused_as_416(
    client: LayoutClient, tmp_path: Path
) -> None:
    repo = layout_repo(tmp_path / "app")
    session = client.start_upload(repo)
    client.patch_upload(repo, session, SizedBody([b"abc"], 3), 0)

    with pytest.raises(HTTPError) as err:
        client.patch_upload(repo, session, SizedBody([b"def"], 3), 10)

    assert err.value.status == 416
    assert client.upload_offset(repo, session) == (session, 3)
    client.patch_upload(repo, session, SizedBody([b"XYZ"], 3), 1)  # a resend from byte 1
    assert client.upload_offset(repo, session) == (session, 4)


def test_a_blob_another_layout_holds_is_hard_linked(client: LayoutClient, tmp_path: Path) -> None:
    a, b, data = layout_repo(tmp_path / "a"), layout_repo(tmp_path / "b"), b"shared" * 1000
    digest = upload(client, a, data)
    target = tmp_path / "b" / "blobs" / "sha256" / digest[7:]

    assert client.blob_exists(b, digest)  # a dry run: present, nothing written
    assert not target.exists()
    assert client.blob_exists(b, digest, push=True)

    source = tmp_path / "a" / "blobs" / "sha256" / digest[7:]
    assert target.stat().st_ino == source.stat().st_ino


def test_mount_links_from_a_layout_named_by_the_cache(tmp_path: Path) -> None:
    a, b, data = layout_repo(tmp_path / "a"), layout_repo(tmp_path / "b"), b"cached" * 100
    digest = upload(LayoutClient(), a, data)
    fresh = LayoutClient()  # a later run: only the blob cache remembers layout a

    assert fresh.mount_blob(b, digest, a)
    assert fresh.mount_blob(b, digest, a)  # already there
    assert not fresh.mount_blob(b, digest_of(b"other"), a)
    fresh.close()


def test_the_source_reader_streams_and_verifies_a_layout_blob(
    client: LayoutClient, tmp_path: Path
) -> None:
    repo, data = layout_repo(tmp_path / "app"), b"0123456789" * 1000
    digest = upload(client, repo, data)
    reader = SourceReader(client, repo, digest)

    got = b"".join(reader.take(len(data)))
    reader.verify(len(data))
    reader.close()
    assert got == data
    resumed = SourceReader(client, repo, digest)
    resumed.position = 5000
    assert b"".join(resumed.take(None)) == data[5000:]
    resumed.close()


def test_threads_tagging_at_once_leave_a_whole_index(client: LayoutClient, tmp_path: Path) -> None:
    repo, image = layout_repo(tmp_path / "app"), small_image("app")
    write_image(client, repo, "base", image)

    def tag_many(n: int) -> None:
        for i in range(15):
            client.put_manifest(repo, f"t{n}-{i}", image.manifest)

    threads = [threading.Thread(target=tag_many, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    doc = json.loads((tmp_path / "app" / "index.json").read_text())
    assert len(doc["manifests"]) == 1 + 8 * 15
    assert len(set(LayoutClient().list_tags(repo))) == 1 + 8 * 15


def test_schema1_is_refused_and_a_wrong_digest_never_stored(
    client: LayoutClient, tmp_path: Path
) -> None:
    repo = layout_repo(tmp_path / "app")
    body = b'{"schemaVersion":1,"fsLayers":[]}'
    with pytest.raises(UnsupportedError, match="schema1"):
        client.put_manifest(
            repo, "v1", RawManifest(body, mediatypes.DOCKER_MANIFEST_V1, digest_of(body))
        )
    image = small_image("app")
    lying = RawManifest(image.manifest.body, mediatypes.OCI_MANIFEST, digest_of(b"else"))
    with pytest.raises(DigestMismatchError):
        client.put_manifest(repo, "v1", lying)


def test_a_missing_layout_has_no_manifests_and_cannot_be_listed(
    client: LayoutClient, tmp_path: Path
) -> None:
    repo = layout_repo(tmp_path / "none")
    assert client.head_manifest(repo, "v1") is None
    assert not client.blob_exists(repo, digest_of(b"x"))
    with pytest.raises(NotFoundError, match="no OCI image layout"):
        list(client.list_tags(repo))
    assert not (tmp_path / "none").exists()
