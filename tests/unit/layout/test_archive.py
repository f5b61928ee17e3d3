"""OCI archives: read in place, written through a staging layout, hostile members refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from syncer.errors import LayoutError
from syncer.layout.archive import STAGING_SUFFIX, ArchiveReader
from syncer.layout.client import LayoutClient
from syncer.layout.index import LAYOUT_FILE_BODY
from syncer.oci.reference import Repository
from tests.support.layout_kit import digest_of, small_image, write_image


def _archive(path: Path) -> Repository:
    return Repository.parse(f"oci-archive:{path}")


def test_an_archive_is_written_whole_at_the_end_and_read_in_place(tmp_path: Path) -> None:
    tar, image = tmp_path / "app.tar", small_image("app")
    writer = LayoutClient()
    write_image(writer, _archive(tar), "v1", image)
    assert not tar.exists(), "nothing under the archive's name before the run ends"
    writer.close()

    assert tar.is_file() and not (tmp_path / f"app.tar{STAGING_SUFFIX}").exists()
    with tarfile.open(tar) as t:
        names = set(t.getnames())
    assert {"oci-layout", "index.json", f"blobs/sha256/{image.manifest.digest[7:]}"} <= names
    reader = LayoutClient()
    assert reader.get_manifest(_archive(tar), "v1") == image.manifest
    assert list(reader.list_tags(_archive(tar))) == ["v1"]
    assert not (tmp_path / f"app.tar{STAGING_SUFFIX}").exists(), "reading unpacks nothing"


def test_adding_to_an_archive_keeps_what_it_held(tmp_path: Path) -> None:
    tar = tmp_path / "app.tar"
    first = LayoutClient()
    write_image(first, _archive(tar), "v1", small_image("one"))
    first.close()
    second = LayoutClient()
    write_image(second, _archive(tar), "v2", small_image("two"))
    second.close()

    assert sorted(LayoutClient().list_tags(_archive(tar))) == ["v1", "v2"]


def _tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w:") as t:
        info = tarfile.TarInfo("oci-layout")
        info.size = len(LAYOUT_FILE_BODY)
        t.addfile(info, io.BytesIO(LAYOUT_FILE_BODY))
        t.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return path


def test_a_link_member_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo(f"blobs/sha256/{digest_of(b'x')[7:]}")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    tar = _tar_with(tmp_path / "evil.tar", link)

    with pytest.raises(LayoutError, match="not a regular file"):
        LayoutClient().blob_exists(_archive(tar), digest_of(b"x"))


def test_members_outside_the_layout_are_ignored_never_extracted(tmp_path: Path) -> None:
    evil = tarfile.TarInfo("../../escaped")
    evil.size = 4
    tar = _tar_with(tmp_path / "odd.tar", evil, b"evil")

    reader = ArchiveReader(tar, "odd")
    assert reader.exists() and reader.blob_digests() == {}
    assert not (tmp_path.parent.parent / "escaped").exists()


def test_a_file_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(LayoutError):
        list(LayoutClient().list_tags(_archive(bogus)))
