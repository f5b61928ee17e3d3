"""Reading a source blob: every byte hashed once, the GET resumed with ``Range``."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator

import requests

from syncer import defaults, untrusted
from syncer.errors import CancelledError, DeadlineError, DigestMismatchError, TransportError
from syncer.oci import digests
from syncer.oci.reference import Repository
from syncer.registry import transport
from syncer.registry.api import Registry
from syncer.registry.retry import backoff_delay, wait_to_retry

log = logging.getLogger(__name__)


def never() -> bool:
    """A stop callback that never stops."""
    return False


class SourceReader:
    """Reads one source blob sequentially, hashing every byte, resuming the GET with Range."""

    def __init__(self, client: Registry, repo: Repository, digest: str) -> None:
        self._client, self._repo, self.digest = client, repo, digest
        self.hasher = digests.hasher(digest)  # in the algorithm the digest names
        self.position = 0
        self._resp: requests.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending = b""
        self.length: int | None = None

    def _open(self) -> Iterator[bytes]:
        resp = self._client.open_blob(self._repo, self.digest, self.position)
        self._resp = resp
        if self.length is None and resp.status_code == 200:
            self.length = untrusted.whole(resp.headers.get("Content-Length"))
        chunks = transport.iter_body(resp, defaults.STREAM_CHUNK)
        if self.position and resp.status_code != 206:
            chunks = _skip(chunks, self.position)  # Range ignored: discard what we have
        return chunks

    def ensure_open(self) -> None:
        """Start the GET now, to learn the length of blobs whose size is unknown."""
        if self._chunks is None:
            self._chunks = self._open()

    def rewind(self, position: int, hasher: hashlib._Hash) -> None:
        """Restart reading at ``position`` with the hash state of the bytes before it."""
        self.close()
        self.position, self.hasher = position, hasher.copy()

    def close(self) -> None:
        """Release the source connection."""
        if self._resp is not None:
            self._resp.close()
        self._resp, self._chunks, self._pending = None, None, b""

    def _next_piece(self) -> bytes:
        reopens = 0
        while True:
            if self._pending:
                piece, self._pending = self._pending, b""
                return piece
            try:
                if self._chunks is None:
                    self._chunks = self._open()
                return next(self._chunks)
            except StopIteration:
                return b""
            except TransportError as exc:
                reopens += 1
                # Reopening heals a broken connection at once; a source too slow
                # for a whole window is left to the copy's retries and backoff.
                if reopens > defaults.SOURCE_REOPENS or isinstance(exc, DeadlineError):
                    raise
                log.info(
                    "source %s@%s broke at byte %d (%s); resuming",
                    self._repo,
                    self.digest[:19],
                    self.position,
                    exc,
                )
                self.close()
                wait_to_retry(backoff_delay(reopens), exc)

    def take(self, count: int | None, stop: Callable[[], bool] = never) -> Iterator[bytes]:
        """Yield the next ``count`` bytes (all the rest if None), hashing them."""
        left = count
        while left is None or left > 0:
            if stop():
                raise CancelledError(f"copy of {self.digest} cancelled")
            piece = self._next_piece()
            if not piece:
                if left is not None:
                    # Source ended early: never let a short body reach the upload.
                    raise DigestMismatchError(
                        f"blob {self._repo}@{self.digest}",
                        f"{left} more bytes",
                        f"end of data at byte {self.position}",
                    )
                return
            if left is not None and len(piece) > left:
                piece, self._pending = piece[:left], piece[left:]
            self.hasher.update(piece)
            self.position += len(piece)
            if left is not None:
                left -= len(piece)
            yield piece

    def verify(self, size: int) -> None:
        """Raise :class:`DigestMismatchError` unless what was read matches the descriptor."""
        actual = digests.of(self.hasher)
        if actual != self.digest:
            raise DigestMismatchError(f"blob {self._repo}@{self.digest}", self.digest, actual)
        if size >= 0 and self.position != size:
            raise DigestMismatchError(
                f"blob {self._repo}@{self.digest}", f"{size} bytes", f"{self.position} bytes"
            )


def _skip(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    for piece in chunks:
        if count >= len(piece):
            count -= len(piece)
            continue
        yield piece[count:]
        count = 0
