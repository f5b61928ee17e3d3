"""The registry operations on OCI image layouts and archives: a :class:`Registry` on disk.

The engine copies to and from a layout exactly as to and from a registry
(:class:`syncer.registry.api.Registry`): HEAD and GET a manifest by tag or
digest, list tags, check, read and upload blobs, push manifests. So rule
forms, tag filters, ``--os/--arch`` and referrers need nothing of their own.
What each operation means here:

* a tag is an ``org.opencontainers.image.ref.name`` entry of ``index.json``;
  a manifest pushed by digest (an index's child, a referrer) is a blob only,
  reached from the index or referrers tag that names it;
* a layout has no referrers API, so referrers go by the Referrers Tag
  Schema (a ``sha256-<hex>`` tag), as regclient's ``ocidir`` does;
* an upload session is a file under ``.syncer-partial/``; finishing it
  verifies the bytes on disk and renames them into ``blobs/``;
* a "mount" is a hard link from another layout that holds the blob, and a
  destination layout asked with ``push=True`` for a blob another layout of
  this process holds links it at once: a blob shared by many repositories of
  a mirror tree is stored once, and each layout stays complete for skopeo;
* pushing a manifest whose blobs are missing fails with
  ``MANIFEST_BLOB_UNKNOWN``, as a registry does, so the engine re-checks;
* blobs in ``since`` (an earlier export's record) count as present: an
  export with ``--since`` leaves them out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import requests
from requests.structures import CaseInsensitiveDict

from syncer import defaults
from syncer.errors import HTTPError, NotFoundError, UnsupportedError
from syncer.layout import archive
from syncer.layout.index import Index, sniff_media_type
from syncer.layout.store import LayoutDir, os_errors
from syncer.oci import digests, mediatypes
from syncer.oci.manifest import parse
from syncer.oci.models import ManifestHead, RawManifest, SizedBody
from syncer.oci.reference import ARCHIVE, Repository
from syncer.registry.tags import Fetch, TagPage


class BlobFile(Protocol):
    """An open blob: a layout file or a window into an archive."""

    def read(self, n: int = -1, /) -> bytes:
        """Up to ``n`` bytes."""

    def seek(self, offset: int, /) -> object:
        """Move to ``offset``."""

    def close(self) -> None:
        """Release the file."""


class Store(Protocol):
    """What a layout or an archive answers when read."""

    def exists(self) -> bool:
        """Whether there is a layout at all."""

    def index(self) -> Index:
        """Its index.json."""

    def has_blob(self, digest: str) -> bool:
        """Whether it holds ``digest``."""

    def open_blob(self, digest: str) -> tuple[BlobFile, int] | None:
        """The blob and its size, or None."""

    def blob_digests(self) -> dict[str, int]:
        """Every blob, digest -> size."""


def _not_found(what: str, code: str) -> NotFoundError:
    return NotFoundError(what, status=404, errors=[{"code": code, "message": what}])


def _response(body: BlobFile, size: int, offset: int, label: str) -> requests.Response:
    """A blob as the streamed response :class:`~syncer.engine.blobreader.SourceReader` reads."""
    resp = requests.Response()
    if offset:
        body.seek(offset)
    resp.status_code = 206 if offset else 200
    resp.headers = CaseInsensitiveDict({"Content-Length": str(max(size - offset, 0))})
    resp.raw = body
    resp.url = label
    return resp


class _Archive:
    """An ``oci-archive:``: read in place until written, then through a staging layout."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.reader = archive.ArchiveReader(path, label)
        self.staging = archive.staging_dir(path, label)

    def read_side(self) -> Store:
        return self.staging if self.staging.exists() else self.reader

    def write_side(self) -> LayoutDir:
        if not self.staging.exists():
            self.staging.ensure()
            if self.reader.exists():
                archive.unpack(self.reader, self.staging)
        self.staging.ensure()
        return self.staging

    def close(self) -> None:
        if self.staging.exists():
            archive.finish(self.staging, self.path)


class LayoutClient:
    """Every OCI image layout and archive this process reads or writes."""

    def __init__(self, *, since: frozenset[str] = frozenset()) -> None:
        self.since = since
        self._lock = threading.Lock()
        self._dirs: dict[str, LayoutDir] = {}
        self._archives: dict[str, _Archive] = {}

    # -- finding the store -------------------------------------------------------
    def _dir(self, repo: Repository) -> LayoutDir:
        with self._lock:
            found = self._dirs.get(repo.path)
            if found is None:
                found = self._dirs[repo.path] = LayoutDir(Path(repo.path), str(repo))
            return found

    def _archive(self, repo: Repository) -> _Archive:
        with self._lock:
            found = self._archives.get(repo.path)
            if found is None:
                found = self._archives[repo.path] = _Archive(Path(repo.path), str(repo))
            return found

    def store(self, repo: Repository) -> Store:
        """What ``repo`` holds now, for reading."""
        if repo.registry == ARCHIVE:
            return self._archive(repo).read_side()
        return self._dir(repo)

    def _writer(self, repo: Repository) -> LayoutDir:
        if repo.registry == ARCHIVE:
            return self._archive(repo).write_side()
        layout = self._dir(repo)
        layout.ensure()
        return layout

    # -- manifests -----------------------------------------------------------------
    def head_manifest(
        self, repo: Repository, reference: str, *, push: bool = False
    ) -> ManifestHead | None:
        """The manifest a tag or digest names; None when the layout lacks it."""
        with os_errors(f"read {repo}"):
            store = self.store(repo)
            if digests.is_digest(reference):
                if not store.has_blob(reference):
                    return None
                raw = self.get_manifest(repo, reference)
                return ManifestHead(raw.digest, raw.media_type, len(raw.body))
            desc = store.index().find(reference)
            if desc is None or not store.has_blob(desc.digest):
                return None
            return ManifestHead(desc.digest, desc.media_type, desc.size)

    def get_manifest(self, repo: Repository, reference: str) -> RawManifest:
        """A manifest's bytes, capped and verified against the digest that names them."""
        what = f"manifest {repo}{'@' if digests.is_digest(reference) else ':'}{reference}"
        with os_errors(f"read {what}"):
            store = self.store(repo)
            index = store.index()
            if digests.is_digest(reference):
                digest, media = reference, index.media_type_of(reference)
            else:
                desc = index.find(reference)
                if desc is None:
                    raise _not_found(f"{what}: MANIFEST_UNKNOWN: no such tag", "MANIFEST_UNKNOWN")
                digest, media = desc.digest, desc.media_type
            body = self._read_small(store, digest, defaults.max_manifest(), what)
        media = media or sniff_media_type(body)
        if media in mediatypes.SCHEMA1_TYPES:
            raise UnsupportedError(f"{what}: a schema1 manifest in an OCI layout; refused")
        return RawManifest(body, media, digest)

    def _read_small(self, store: Store, digest: str, limit: int, what: str) -> bytes:
        opened = store.open_blob(digest)
        if opened is None:
            raise _not_found(
                f"{what}: MANIFEST_UNKNOWN: {digest} is not in the layout", "MANIFEST_UNKNOWN"
            )
        f, size = opened
        try:
            if size > limit:
                raise UnsupportedError(f"{what} is larger than the {limit}-byte cap; refused")
            body = f.read(limit + 1)
        finally:
            f.close()
        digests.verify(body, digest, what)
        return body

    def put_manifest(self, repo: Repository, reference: str, manifest: RawManifest) -> str:
        """Store the manifest's bytes; a tag also becomes an index.json entry."""
        what = f"manifest {repo}:{reference}"
        media = manifest.media_type or sniff_media_type(manifest.body)
        if media in mediatypes.SCHEMA1_TYPES:
            raise UnsupportedError(f"{what}: schema1 manifests cannot be stored in an OCI layout")
        digests.verify(manifest.body, manifest.digest, what)
        parsed = parse(RawManifest(manifest.body, media, manifest.digest), what)
        if not media:
            media = mediatypes.OCI_INDEX if parsed.kind == "index" else mediatypes.OCI_MANIFEST
        with os_errors(f"write {what}"):
            layout = self._writer(repo)
            missing = [
                d.digest
                for d in (*parsed.blobs, *parsed.children)
                if d.digest not in self.since and not layout.has_blob(d.digest)
            ]
            if missing:
                raise _not_found(
                    f"{what}: MANIFEST_BLOB_UNKNOWN: {missing[0]} is not in the layout",
                    "MANIFEST_BLOB_UNKNOWN",
                )
            layout.write_blob(manifest.body, manifest.digest)
            if not digests.is_digest(reference):
                layout.tag(reference, media, manifest.digest, len(manifest.body))
        return manifest.digest

    def list_tags(
        self, repo: Repository, page_size: int = defaults.TAGS_PAGE, fetch: Fetch | None = None
    ) -> Iterator[str]:
        """The layout's tags, in index.json order."""

        def read() -> TagPage:
            with os_errors(f"list tags of {repo}"):
                store = self.store(repo)
                if not store.exists():
                    raise _not_found(
                        f"{repo}: NAME_UNKNOWN: no OCI image layout there", "NAME_UNKNOWN"
                    )
                return TagPage(store.index().tags()[: defaults.max_tags()], None)

        yield from (fetch(read) if fetch else read()).tags

    # -- blobs -----------------------------------------------------------------
    def blob_exists(self, repo: Repository, digest: str, *, push: bool = False) -> bool:
        """Whether ``repo`` holds the blob, or an earlier export does (``since``).

        A blob another layout of this process holds counts too: with ``push``
        it is hard-linked in at once (a layout then stays self-contained).
        """
        digests.parse(digest, f"blob of {repo}")
        if digest in self.since:
            return True
        with os_errors(f"read {repo}"):
            if self.store(repo).has_blob(digest):
                return True
            holder = self._sibling(repo, digest)
            if holder is None:
                return False
            return self._writer(repo).link(digest, holder.blob_path(digest)) if push else True

    def _sibling(self, repo: Repository, digest: str) -> LayoutDir | None:
        with self._lock:
            others = [d for path, d in self._dirs.items() if path != repo.path]
        return next((d for d in others if d.has_blob(digest)), None)

    def open_blob(self, repo: Repository, digest: str, offset: int = 0) -> requests.Response:
        """The blob as a streamed response; the reader verifies its digest."""
        with os_errors(f"read blob {repo}@{digest}"):
            opened = self.store(repo).open_blob(digest)
        if opened is None:
            hint = "" if not self.since else "; an export made with --since leaves out what "
            hint += "an earlier export carried: import that one first" if self.since else ""
            raise _not_found(
                f"blob {repo}@{digest}: BLOB_UNKNOWN: not in the layout{hint}", "BLOB_UNKNOWN"
            )
        body, size = opened
        return _response(body, size, offset, f"{repo}@{digest}")

    def mount_blob(self, repo: Repository, digest: str, source: Repository) -> bool:
        """Hard-link the blob from another layout directory that holds it."""
        if not source.is_layout or source.registry == ARCHIVE or source.path == repo.path:
            return False
        holder = self._dir(source)
        with os_errors(f"link blob into {repo}"):
            if not holder.has_blob(digest):
                return False
            return self._writer(repo).link(digest, holder.blob_path(digest))

    def start_upload(self, repo: Repository) -> str:
        """A new partial file; its name is the session."""
        with os_errors(f"write {repo}"):
            return self._writer(repo).partial().name

    def finish_upload(
        self, repo: Repository, url: str, digest: str, body: SizedBody | bytes | Iterator[bytes]
    ) -> None:
        """Append the rest, then verify the file and rename it into ``blobs/``."""
        with os_errors(f"write blob {repo}@{digest}"):
            layout = self._writer(repo)
            path = layout.partial_named(url)
            with open(path, "ab") as f:
                for piece in [body] if isinstance(body, bytes) else body:
                    f.write(piece)
            layout.commit(path, digest)

    def patch_upload(self, repo: Repository, url: str, body: SizedBody, start: int) -> str:
        """Append one chunk at ``start`` (a longer file is cut back to it first)."""
        with os_errors(f"write {repo}"):
            path = self._writer(repo).partial_named(url)
            if not path.exists():
                raise _not_found(f"{repo}: upload {url} is gone", "BLOB_UPLOAD_UNKNOWN")
            with open(path, "r+b") as f:
                held = f.seek(0, 2)
                if held < start:
                    raise HTTPError(f"{repo}: upload holds {held} bytes, not {start}", status=416)
                f.truncate(start)
                f.seek(start)
                for piece in body:
                    f.write(piece)
        return url

    def upload_offset(self, repo: Repository, url: str) -> tuple[str, int]:
        """How many bytes the partial file holds."""
        with os_errors(f"read {repo}"):
            path = self._writer(repo).partial_named(url)
            if not path.exists():
                raise _not_found(f"{repo}: upload {url} is gone", "BLOB_UPLOAD_UNKNOWN")
            return url, path.stat().st_size

    def cancel_upload(self, repo: Repository, url: str) -> None:
        """Remove the partial file."""
        with os_errors(f"write {repo}"):
            self._writer(repo).partial_named(url).unlink(missing_ok=True)

    # -- the run's end ---------------------------------------------------------
    def held(self, repo: Repository) -> dict[str, int]:
        """Every blob ``repo`` holds, digest -> size (for an export record)."""
        with os_errors(f"read {repo}"):
            return self.store(repo).blob_digests()

    def close(self) -> None:
        """Pack every archive written, and let go of every layout."""
        with self._lock:
            archives, dirs = list(self._archives.values()), list(self._dirs.values())
            self._archives, self._dirs = {}, {}
        for item in archives:
            with os_errors(f"write {item.path}"):
                item.close()
        for layout in dirs:
            layout.close()

    def release(self) -> None:
        """Let go of every layout without packing archives (an interrupted run)."""
        with self._lock:
            dirs = [*self._dirs.values(), *(a.staging for a in self._archives.values())]
        for layout in dirs:
            layout.close()
