"""Blob transfer: HEAD, mount, or stream from source to destination.

Bytes flow source GET → bounded chunks → destination upload; nothing touches
disk and memory does not grow with layer size. The digest is computed in
flight, and the last chunk is held back until it matches, so a corrupt blob
is never committed at the destination.

Large blobs go up in ``PATCH`` chunks (spec: "Pushing a blob in chunks"). When
a chunk fails, the upload session is asked how much it holds (``GET`` on the
session URL, ``Range`` header) and the copy resumes there, re-reading the
source with a ``Range`` request from the nearest chunk boundary.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, Protocol

from syncer import defaults, metrics
from syncer.engine.blobreader import SourceReader, never
from syncer.errors import (
    CancelledError,
    HTTPError,
    RegistryError,
    is_transient,
)
from syncer.oci.manifest import Descriptor
from syncer.oci.models import SizedBody
from syncer.oci.reference import Repository
from syncer.registry.api import Registry
from syncer.registry.retry import backoff_delay, retrying, wait_to_retry

log = logging.getLogger(__name__)

Outcome = Literal["exists", "mounted", "copied"]


def ignore_bytes(_: int) -> None:
    """A byte-count callback that records nothing."""
    return None


def _held_back(
    pieces: Iterable[bytes], check: Callable[[], None], on_bytes: Callable[[int], None]
) -> Iterator[bytes]:
    """Yield ``pieces`` but run ``check`` before releasing the final one."""
    prev: bytes | None = None
    for piece in pieces:
        if prev is not None:
            on_bytes(len(prev))
            yield prev
        prev = piece
    check()
    if prev is not None:
        on_bytes(len(prev))
        yield prev


def _counted(pieces: Iterable[bytes], on_bytes: Callable[[int], None]) -> Iterator[bytes]:
    for piece in pieces:
        on_bytes(len(piece))
        yield piece


class _Attempt:
    """Counts one attempt's bytes as they stream, and takes them back if it fails.

    Progress then moves smoothly, yet bytes sent again after a failure are
    counted once, so "bytes moved" never exceeds what landed plus what is in flight.
    """

    def __init__(self, on_bytes: Callable[[int], None]) -> None:
        self._on_bytes, self.sent = on_bytes, 0

    def __call__(self, n: int) -> None:
        self.sent += n
        self._on_bytes(n)
        metrics.recorder().streamed(n)

    def take_back(self) -> None:
        """Uncount this attempt."""
        if self.sent:
            self._on_bytes(-self.sent)
            self.sent = 0


class UploadSessions(Protocol):
    """Where chunked uploads in progress are remembered, so another process can resume them."""

    def get(self, repo: Repository, digest: str) -> str | None:
        """The session URL of an unfinished upload of ``digest`` to ``repo``."""

    def put(self, repo: Repository, digest: str, url: str) -> None:
        """Remember the session URL after a chunk was accepted."""

    def drop(self, repo: Repository, digest: str) -> None:
        """Forget the session."""


class MemorySessions:
    """Sessions kept for the life of one copier, so its own retries resume."""

    def __init__(self) -> None:
        self._urls: dict[tuple[Repository, str], str] = {}

    def get(self, repo: Repository, digest: str) -> str | None:
        """The session left by an earlier attempt, if any."""
        return self._urls.get((repo, digest))

    def put(self, repo: Repository, digest: str, url: str) -> None:
        """Remember the session."""
        self._urls[(repo, digest)] = url

    def drop(self, repo: Repository, digest: str) -> None:
        """Forget the session."""
        self._urls.pop((repo, digest), None)


def _resumable(exc: RegistryError) -> bool:
    """Whether a failed chunk is worth asking the session about.

    Transient failures are; so are a range the session disagrees with (416),
    and a session the registry has lost or invalidated (404, 400
    BLOB_UPLOAD_INVALID/UNKNOWN), which :meth:`BlobCopier._resume` restarts.
    """
    if is_transient(exc):
        return True
    if not isinstance(exc, HTTPError):
        return False
    session_codes = {"BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN"}
    return exc.status in (404, 416) or (exc.status == 400 and bool(session_codes & set(exc.codes)))


class BlobCopier:
    """Copies one blob between two registries."""

    def __init__(
        self,
        src: Registry,
        dst: Registry,
        *,
        on_bytes: Callable[[int], None] = ignore_bytes,
        stop: Callable[[], bool] = never,
        chunked_threshold: int = defaults.CHUNKED_THRESHOLD,
        upload_chunk: int = defaults.UPLOAD_CHUNK,
        attempts: int = defaults.REQUEST_ATTEMPTS,
        sessions: UploadSessions | None = None,
    ) -> None:
        self.src, self.dst = src, dst
        self.sessions: UploadSessions = sessions or MemorySessions()
        self.on_bytes, self.stop = on_bytes, stop
        self.chunked_threshold, self.upload_chunk = chunked_threshold, upload_chunk
        self.attempts = attempts

    def copy(
        self,
        src_repo: Repository,
        dst_repo: Repository,
        desc: Descriptor,
        *,
        check_exists: bool = True,
        mount_from: Iterable[Repository] = (),
    ) -> Outcome:
        """Make ``desc`` present in ``dst_repo``; say how."""
        if self.stop():
            raise CancelledError(f"copy of {desc.digest} cancelled")
        what = f"blob {desc.digest[:19]} → {dst_repo}"
        if check_exists and retrying(
            lambda: self.dst.blob_exists(dst_repo, desc.digest, push=True),
            what=what,
            attempts=self.attempts,
        ):
            return "exists"
        with metrics.recorder().transfer():
            return self._mount_or_stream(src_repo, dst_repo, desc, what, mount_from)

    def _mount_or_stream(
        self,
        src_repo: Repository,
        dst_repo: Repository,
        desc: Descriptor,
        what: str,
        mount_from: Iterable[Repository],
    ) -> Outcome:
        for other in mount_from:
            if other != dst_repo and self._try_mount(dst_repo, desc.digest, other):
                return "mounted"
        if desc.size >= self.chunked_threshold:
            retrying(
                lambda: self._chunked(src_repo, dst_repo, desc), what=what, attempts=self.attempts
            )
        else:
            retrying(
                lambda: self._monolithic(src_repo, dst_repo, desc),
                what=what,
                attempts=self.attempts,
            )
        return "copied"

    def _try_mount(self, dst_repo: Repository, digest: str, other: Repository) -> bool:
        try:
            return self.dst.mount_blob(dst_repo, digest, other)
        except HTTPError as exc:
            # A mount the token does not cover, or a registry that refuses it,
            # is not an error: we simply upload instead.
            log.debug("mount of %s from %s refused: %s", digest[:19], other, exc)
            return False

    def _monolithic(self, src_repo: Repository, dst_repo: Repository, desc: Descriptor) -> None:
        reader = SourceReader(self.src, src_repo, desc.digest)
        url = self.dst.start_upload(dst_repo)
        attempt = _Attempt(self.on_bytes)
        try:
            reader.ensure_open()
            size = desc.size if desc.size >= 0 else reader.length
            pieces = _held_back(
                reader.take(size, self.stop),
                lambda: reader.verify(-1 if size is None else size),
                attempt,
            )
            # Schema1 blobs have no size in the manifest; if the source does not
            # say either, a bare generator goes out with chunked transfer
            # encoding (distribution reads a monolithic PUT to EOF). Never a
            # SizedBody of length 0: it is falsy, and Session.request replaces a
            # falsy body with {}, sending "Content-Length: 0" and no bytes at all.
            body = SizedBody(pieces, size) if size else pieces
            self.dst.finish_upload(dst_repo, url, desc.digest, body)
            metrics.recorder().bytes_copied(src_repo.registry, dst_repo.registry, attempt.sent)
        except BaseException:
            attempt.take_back()
            self.dst.cancel_upload(dst_repo, url)
            raise
        finally:
            reader.close()

    def _chunked(self, src_repo: Repository, dst_repo: Repository, desc: Descriptor) -> None:
        reader = SourceReader(self.src, src_repo, desc.digest)
        snapshots = {0: reader.hasher.copy()}
        url = self._open_session(dst_repo, desc.digest, reader, snapshots)
        failures = 0
        try:
            while reader.position < desc.size:
                start = reader.position
                try:
                    url = self._send_chunk(dst_repo, url, reader, desc.size)
                except RegistryError as exc:
                    failures += 1
                    if not _resumable(exc) or failures >= self.attempts:
                        raise
                    url, failures = self._recover(dst_repo, url, reader, snapshots, failures, exc)
                    continue
                snapshots[reader.position] = reader.hasher.copy()
                self.sessions.put(dst_repo, desc.digest, url)
                sent = reader.position - start
                metrics.recorder().bytes_copied(src_repo.registry, dst_repo.registry, sent)
            self.dst.finish_upload(dst_repo, url, desc.digest, b"")
        except RegistryError as exc:
            if is_transient(exc):
                # Keep the session: the next attempt, or another worker, resumes it.
                self.sessions.put(dst_repo, desc.digest, url)
            else:
                self._abandon(dst_repo, desc.digest, url)
            raise
        except BaseException:
            self._abandon(dst_repo, desc.digest, url)
            raise
        finally:
            reader.close()
        self.sessions.drop(dst_repo, desc.digest)

    def _send_chunk(self, dst_repo: Repository, url: str, reader: SourceReader, size: int) -> str:
        """PATCH the next chunk; the last one is held back until the digest matches."""
        start = reader.position
        n = min(self.upload_chunk, size - start)
        attempt = _Attempt(self.on_bytes)
        pieces: Iterable[bytes] = reader.take(n, self.stop)
        if start + n == size:
            pieces = _held_back(pieces, lambda: reader.verify(size), attempt)
        else:
            pieces = _counted(pieces, attempt)
        try:
            return self.dst.patch_upload(dst_repo, url, SizedBody(pieces, n), start)
        except BaseException:
            attempt.take_back()  # the chunk goes again: count its bytes once
            raise

    def _recover(
        self,
        dst_repo: Repository,
        url: str,
        reader: SourceReader,
        snapshots: dict[int, hashlib._Hash],
        failures: int,
        exc: RegistryError,
    ) -> tuple[str, int]:
        """Back off and line up with the session; a registry still restarting counts as a try."""
        while True:
            wait_to_retry(backoff_delay(failures, exc), exc)
            try:
                return self._resume(dst_repo, url, reader, snapshots), failures
            except RegistryError as again:
                failures += 1
                if not is_transient(again) or failures >= self.attempts:
                    raise
                exc = again

    def _abandon(self, dst_repo: Repository, digest: str, url: str) -> None:
        self.sessions.drop(dst_repo, digest)
        self.dst.cancel_upload(dst_repo, url)

    def _open_session(
        self,
        dst_repo: Repository,
        digest: str,
        reader: SourceReader,
        snapshots: dict[int, hashlib._Hash],
    ) -> str:
        """Resume an upload another worker left behind, or start a new one."""
        url = self.sessions.get(dst_repo, digest)
        if url:
            try:
                return self._resume(dst_repo, url, reader, snapshots)
            except RegistryError as exc:
                log.info("cannot resume %s in %s (%s); starting over", digest[:19], dst_repo, exc)
                reader.rewind(0, snapshots[0])
        return self.dst.start_upload(dst_repo)

    def _resume(
        self,
        dst_repo: Repository,
        url: str,
        reader: SourceReader,
        snapshots: dict[int, hashlib._Hash],
    ) -> str:
        """Line the reader up with what the upload session holds; return the session URL."""
        try:
            url, held = self.dst.upload_offset(dst_repo, url)
        except HTTPError as exc:
            if is_transient(exc):
                raise
            log.info("upload session in %s is gone (%s); starting over", dst_repo, exc)
            url, held = self.dst.start_upload(dst_repo), 0
        base = max(k for k in snapshots if k <= held) if held >= 0 else 0
        reader.rewind(base, snapshots[base])
        for _ in reader.take(held - base):
            pass  # re-hash bytes the registry already has, without sending them
        log.info("resuming upload of %s to %s at byte %d", reader.digest[:19], dst_repo, held)
        metrics.recorder().upload_resumed(dst_repo.registry)
        return url
