"""One OCI image layout directory: read warily, written so no reader sees half a file.

Layout (image-spec "Image Layout"): ``oci-layout``, ``index.json``, and
``blobs/<alg>/<hex>``. A layout on disk is input like a server's reply, so
every read is capped, every file opened without following symbolic links
and refused unless it is a regular file, and every name built from a digest
that :func:`syncer.oci.digests.parse` accepted (no path traversal).

Writes never put half a file under its final name. A blob is written under
``.syncer-partial/`` in the layout, fsynced, hashed back from the file, and
renamed into ``blobs/`` only when it matches its digest; ``index.json`` is
replaced the same way, then the directory is fsynced. This process's threads
take a lock per layout for ``index.json``; another process is kept out by an
``flock`` on the layout directory for as long as this one writes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from syncer import defaults
from syncer.errors import DigestMismatchError, LayoutError, UnsupportedError
from syncer.layout.index import LAYOUT_FILE_BODY, LAYOUT_VERSION, Index
from syncer.oci import digests

log = logging.getLogger(__name__)

#: Where blobs and index.json are written before they are renamed into place.
PARTIAL_DIR = ".syncer-partial"
_SMALL_FILE = 64 << 10
_HASH_CHUNK = 1 << 20


@contextlib.contextmanager
def os_errors(what: str) -> Iterator[None]:
    """Turn an ``OSError`` of a file operation into a :class:`LayoutError` naming ``what``."""
    try:
        yield
    except OSError as exc:
        raise LayoutError(f"{what}: {exc.strerror or exc}") from exc


def open_regular(path: Path, what: str) -> BinaryIO:
    """Open ``path`` for reading; a symbolic link, FIFO or device is refused, not followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LayoutError(f"{what} is a symbolic link; refused") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LayoutError(f"{what} is not a regular file; refused")
    return os.fdopen(fd, "rb")


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """A whole small file, or :class:`LayoutError` once it passes ``limit`` bytes."""
    with open_regular(path, what) as f:
        body = f.read(limit + 1)
    if len(body) > limit:
        raise LayoutError(f"{what} is larger than the {limit}-byte cap; refused")
    return body


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LayoutDir:
    """One OCI image layout directory."""

    def __init__(self, root: Path, label: str) -> None:
        self.root, self.label = root, label
        self._lock = threading.Lock()
        self._index: Index | None = None
        self._held: int | None = None  # the flock'ed directory, while this process writes

    # -- reading ---------------------------------------------------------------
    def exists(self) -> bool:
        """Whether a layout is there; a directory that is something else is refused."""
        try:
            body = read_capped(self.root / "oci-layout", _SMALL_FILE, f"{self.label}/oci-layout")
        except FileNotFoundError:
            return False
        except NotADirectoryError as exc:
            raise LayoutError(f"{self.label} is not a directory") from exc
        if b'"imageLayoutVersion"' not in body or LAYOUT_VERSION.encode() not in body:
            raise LayoutError(f"{self.label}: oci-layout does not say imageLayoutVersion 1.0.0")
        return True

    def index(self) -> Index:
        """The layout's ``index.json`` (empty when there is no layout yet)."""
        with self._lock:
            return self._load()

    def _load(self) -> Index:
        if self._index is None:
            if not self.exists():
                return Index()
            where = f"{self.label}/index.json"
            self._index = Index.parse(
                read_capped(self.root / "index.json", defaults.max_layout_index(), where),
                self.label,
            )
        return self._index

    def blob_path(self, digest: str) -> Path:
        """``blobs/<alg>/<hex>``, built only from a well-formed digest."""
        parsed = digests.parse(digest, f"{self.label} blob")
        return self.root / "blobs" / parsed.algorithm / parsed.hex

    def has_blob(self, digest: str) -> bool:
        """Whether the layout holds ``digest`` as a regular file."""
        try:
            return stat.S_ISREG(os.lstat(self.blob_path(digest)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def open_blob(self, digest: str) -> tuple[BinaryIO, int] | None:
        """The blob's file and size, or None when it is not there."""
        try:
            f = open_regular(self.blob_path(digest), f"{self.label} blob {digest}")
        except (FileNotFoundError, NotADirectoryError):
            return None
        return f, os.fstat(f.fileno()).st_size

    def blob_digests(self) -> dict[str, int]:
        """Every blob of the layout, digest -> size (names that are not digests are ignored)."""
        found: dict[str, int] = {}
        blobs = self.root / "blobs"
        if not blobs.is_dir():
            return found
        for alg in os.scandir(blobs):
            if not alg.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(alg.path):
                digest = f"{alg.name}:{entry.name}"
                if entry.is_file(follow_symlinks=False) and _well_formed(digest):
                    found[digest] = entry.stat(follow_symlinks=False).st_size
        return found

    # -- writing ---------------------------------------------------------------
    def ensure(self) -> None:
        """Create the layout if needed, and hold it against other processes."""
        with self._lock:
            if self._held is not None:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise LayoutError(f"{self.label} is being written by another process") from None
            try:
                self._prepare()
            except BaseException:
                os.close(fd)
                raise
            self._held = fd

    def _prepare(self) -> None:
        """Clear what an interrupted run left; create the layout's files if there are none."""
        fresh = not self.exists()
        if fresh and {p.name for p in self.root.iterdir()} - {PARTIAL_DIR}:
            raise LayoutError(f"{self.label} exists and is not an OCI image layout")
        partial = self.root / PARTIAL_DIR
        shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run: ours now
        partial.mkdir()
        if fresh:
            self._replace("oci-layout", LAYOUT_FILE_BODY)
            self._replace("index.json", Index().dumps())
            self._index = Index()
        (self.root / "blobs").mkdir(exist_ok=True)

    def partial(self) -> Path:
        """A new, empty file under the partial directory."""
        path = self.root / PARTIAL_DIR / secrets.token_hex(16)
        path.touch(exist_ok=False)
        return path

    def partial_named(self, token: str) -> Path:
        """The partial file ``token`` names; anything but our own token shape is refused."""
        if len(token) != 32 or not all(c in "0123456789abcdef" for c in token):
            raise LayoutError(f"{self.label}: not an upload of this layout: {token[:40]!r}")
        return self.root / PARTIAL_DIR / token

    def commit(self, partial: Path, digest: str, size: int = -1) -> None:
        """fsync ``partial``, check it hashes to ``digest``, and rename it into ``blobs/``."""
        hasher, length = digests.hasher(digest), 0
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
            while chunk := f.read(_HASH_CHUNK):
                hasher.update(chunk)
                length += len(chunk)
        actual = digests.of(hasher)
        if actual != digest or (size >= 0 and length != size):
            partial.unlink(missing_ok=True)
            got = actual if actual != digest else f"{length} bytes"
            raise DigestMismatchError(f"{self.label} blob", digest, got)
        target = self.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        fsync_dir(target.parent)

    def write_blob(self, data: bytes, digest: str) -> None:
        """Store a small blob (a manifest) unless it is already there."""
        if self.has_blob(digest):
            return
        path = self.partial()
        path.write_bytes(data)
        self.commit(path, digest, len(data))

    def link(self, digest: str, source: Path) -> bool:
        """Hard-link ``source`` in as ``digest``; False where the file system cannot."""
        target = self.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            return True
        except OSError as exc:
            log.debug("%s: cannot link %s from %s: %s", self.label, digest[:19], source, exc)
            return False
        fsync_dir(target.parent)
        return True

    def tag(self, tag: str, media_type: str, digest: str, size: int) -> None:
        """Point ``tag`` at a stored manifest, replacing index.json atomically."""
        with self._lock:
            index = self._load()
            if index.tag(tag, media_type, digest, size):
                self._replace("index.json", index.dumps())

    def adopt(self, index: Index) -> None:
        """Replace index.json with ``index`` (an archive's, when it is unpacked)."""
        with self._lock:
            self._index = Index(list(index.raw), list(index.checked), dict(index.extra))
            self._replace("index.json", self._index.dumps())

    def _replace(self, name: str, data: bytes) -> None:
        tmp = self.root / PARTIAL_DIR / f"{name}.{secrets.token_hex(8)}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / name)
        fsync_dir(self.root)

    def close(self) -> None:
        """Drop the partial directory and let other processes write the layout."""
        with self._lock:
            if self._held is None:
                return
            shutil.rmtree(self.root / PARTIAL_DIR, ignore_errors=True)
            os.close(self._held)  # closing the descriptor releases the flock
            self._held = None


def _well_formed(digest: str) -> bool:
    try:
        digests.parse(digest)
    except UnsupportedError:  # a stray file, not a blob
        return False
    return True
