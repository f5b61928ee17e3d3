"""OCI archives (``oci-archive:``): a tar of one image layout, as skopeo writes it.

An archive is read in place: one pass over its headers finds ``oci-layout``,
``index.json`` and ``blobs/<alg>/<hex>``, and each blob is then streamed
straight from its offset in the tar, so importing needs no scratch space. A
member that is not a regular file (a link, a device) is refused; other files
are ignored. Writing one goes through a staging layout beside it,
``<archive>.syncer-staging/``, that the end of the run packs into a new tar
and renames over the archive: an interrupted run leaves the old archive and
the staging directory, and the next run carries on from there.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tarfile
from pathlib import Path

from syncer import defaults
from syncer.errors import LayoutError, UnsupportedError
from syncer.layout.index import Index
from syncer.layout.store import LayoutDir, fsync_dir
from syncer.oci import digests
from syncer.text import escape

#: Most members one archive may hold.
MAX_MEMBERS = 1_000_000
STAGING_SUFFIX = ".syncer-staging"


class Window:
    """``size`` bytes of a file from ``start``: one blob inside a tar."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close(), as a response body
        self._start, self._size, self._pos = start, size, 0
        self._f.seek(start)

    def seek(self, offset: int) -> None:
        """Move to ``offset`` within the blob."""
        self._pos = min(max(offset, 0), self._size)
        self._f.seek(self._start + self._pos)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes, never past the blob's end."""
        left = self._size - self._pos
        data = self._f.read(left if n < 0 else min(n, left))
        self._pos += len(data)
        return data

    def close(self) -> None:
        """Close the archive file."""
        self._f.close()


class ArchiveReader:
    """An OCI archive, read without unpacking it."""

    def __init__(self, path: Path, label: str) -> None:
        self.path, self.label = path, label
        self._members: dict[str, tuple[int, int]] | None = None
        self._index: Index | None = None

    def exists(self) -> bool:
        """Whether the archive is there (and holds a layout)."""
        if not self.path.is_file():
            return False
        if "oci-layout" not in self._scan():
            raise LayoutError(f"{self.label} holds no oci-layout file: not an OCI archive")
        return True

    def _scan(self) -> dict[str, tuple[int, int]]:
        if self._members is None:
            try:
                self._members = _members(self.path, self.label)
            except (tarfile.TarError, EOFError) as exc:
                raise LayoutError(f"{self.label} is not a readable tar: {exc}") from exc
        return self._members

    def index(self) -> Index:
        """The archive's ``index.json``."""
        if self._index is None:
            if not self.exists():
                return Index()
            where = self._scan().get("index.json")
            if where is None:
                raise LayoutError(f"{self.label} holds no index.json")
            if where[1] > defaults.max_layout_index():
                raise LayoutError(f"{self.label}: index.json is larger than its cap; refused")
            window = Window(self.path, *where)
            try:
                self._index = Index.parse(window.read(), self.label)
            finally:
                window.close()
        return self._index

    def has_blob(self, digest: str) -> bool:
        """Whether the archive holds ``digest``."""
        return self.path.is_file() and _blob_name(digest) in self._scan()

    def open_blob(self, digest: str) -> tuple[Window, int] | None:
        """The blob's bytes and size, or None."""
        if not self.path.is_file():
            return None
        where = self._scan().get(_blob_name(digest))
        return None if where is None else (Window(self.path, *where), where[1])

    def blob_digests(self) -> dict[str, int]:
        """Every blob of the archive, digest -> size."""
        if not self.path.is_file():
            return {}
        out: dict[str, int] = {}
        for name, (_, size) in self._scan().items():
            if name.startswith("blobs/"):
                alg, _, hexpart = name[len("blobs/") :].partition("/")
                out[f"{alg}:{hexpart}"] = size
        return out


def _blob_name(digest: str) -> str:
    parsed = digests.parse(digest, "archive blob")
    return f"blobs/{parsed.algorithm}/{parsed.hex}"


def _members(path: Path, label: str) -> dict[str, tuple[int, int]]:
    """name -> (offset, size) of the layout's files in the tar at ``path``."""
    found: dict[str, tuple[int, int]] = {}
    with tarfile.open(path, mode="r:") as tar:
        for count, member in enumerate(tar):
            if count >= MAX_MEMBERS:
                raise LayoutError(f"{label} has more than {MAX_MEMBERS} members")
            name = member.name.removeprefix("./").rstrip("/")
            if member.isdir():
                continue
            if not member.isreg():
                raise LayoutError(f"{label}: {escape(name)!r} is not a regular file; refused")
            if name in ("oci-layout", "index.json") or _is_blob_name(name):
                found[name] = (member.offset_data, member.size)
    return found


def _is_blob_name(name: str) -> bool:
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "blobs":
        return False
    try:
        digests.parse(f"{parts[1]}:{parts[2]}")
    except UnsupportedError:
        return False
    return True


def staging_dir(archive: Path, label: str) -> LayoutDir:
    """The layout an archive is written through."""
    return LayoutDir(archive.with_name(archive.name + STAGING_SUFFIX), label)


def unpack(reader: ArchiveReader, into: LayoutDir) -> None:
    """Copy an archive's blobs (each verified) and index.json into a held layout."""
    for digest in reader.blob_digests():
        if into.has_blob(digest):
            continue
        opened = reader.open_blob(digest)
        assert opened is not None
        window, size = opened
        path = into.partial()
        try:
            with open(path, "wb") as out:
                while chunk := window.read(defaults.STREAM_CHUNK):
                    out.write(chunk)
        finally:
            window.close()
        into.commit(path, digest, size)
    into.adopt(reader.index())


def pack(layout: LayoutDir, archive: Path) -> None:
    """Write ``layout`` as a tar beside ``archive``, fsync it, and rename it over ``archive``."""
    tmp = archive.with_name(f".{archive.name}.{secrets.token_hex(8)}.partial")
    try:
        with open(tmp, "wb") as f:
            with tarfile.open(fileobj=f, mode="w:", format=tarfile.PAX_FORMAT) as tar:
                for name in ("oci-layout", "index.json"):
                    tar.add(layout.root / name, arcname=name, recursive=False)
                for digest in sorted(layout.blob_digests()):
                    alg, _, hexpart = digest.partition(":")
                    tar.add(layout.blob_path(digest), arcname=f"blobs/{alg}/{hexpart}")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, archive)
        fsync_dir(archive.parent)
    finally:
        tmp.unlink(missing_ok=True)


def finish(layout: LayoutDir, archive: Path) -> None:
    """Pack a staging layout into its archive and remove it."""
    layout.ensure()
    pack(layout, archive)
    layout.close()
    shutil.rmtree(layout.root)
