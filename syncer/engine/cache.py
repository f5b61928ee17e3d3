"""The incremental blob cache: which digests each destination repository already holds.

The cache is an optimisation and the registry stays the source of truth: a
digest is recorded only after the destination confirmed it (HEAD 200, mount
201 or upload 201), and an entry that turns out stale (the registry garbage
collected the blob) is dropped when the manifest push reports the blob
unknown, after which the copy falls back to HEAD. Two back ends share one
interface: a JSON file for the embedded mode (here), Redis sets for a fleet
(:class:`syncer.fleet.state.blobcache.RedisBlobCache`, kept apart so the embedded
mode never imports redis).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from syncer.errors import CacheError

log = logging.getLogger(__name__)


class BlobCache(Protocol):
    """Where blobs are known to exist at destination registries."""

    def has(self, registry: str, repo: str, digest: str) -> bool:
        """Whether ``digest`` is known to be in ``registry/repo``."""

    def add(self, registry: str, repo: str, digest: str) -> None:
        """Record that the destination confirmed ``digest`` in ``registry/repo``."""

    def discard(self, registry: str, repo: str, digest: str) -> None:
        """Forget a stale entry."""

    def repos_with(self, registry: str, digest: str) -> list[str]:
        """Repositories of ``registry`` known to hold ``digest`` (for mounts)."""

    def flush(self) -> None:
        """Persist whatever is buffered."""


class MemoryBlobCache:
    """A process-local cache; the base of the file cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, set[str]]] = {}

    def has(self, registry: str, repo: str, digest: str) -> bool:
        """Whether ``digest`` is known to be in ``registry/repo``."""
        with self._lock:
            return repo in self._data.get(registry, {}).get(digest, ())

    def add(self, registry: str, repo: str, digest: str) -> None:
        """Record a confirmed blob."""
        with self._lock:
            self._data.setdefault(registry, {}).setdefault(digest, set()).add(repo)

    def discard(self, registry: str, repo: str, digest: str) -> None:
        """Forget a stale entry."""
        with self._lock:
            self._data.get(registry, {}).get(digest, set()).discard(repo)

    def repos_with(self, registry: str, digest: str) -> list[str]:
        """Repositories known to hold ``digest``."""
        with self._lock:
            return sorted(self._data.get(registry, {}).get(digest, ()))

    def flush(self) -> None:
        """Nothing to persist."""


class FileBlobCache(MemoryBlobCache):
    """The embedded default: a JSON file in the user cache directory."""

    VERSION = 1

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._data = self._read()
        #: Entries found stale since the last flush: the merge must not bring them back.
        self._dropped: set[tuple[str, str, str]] = set()

    def add(self, registry: str, repo: str, digest: str) -> None:
        """Record a confirmed blob (again, if it had been found stale)."""
        with self._lock:
            self._dropped.discard((registry, repo, digest))
        super().add(registry, repo, digest)

    def discard(self, registry: str, repo: str, digest: str) -> None:
        """Forget a stale entry, here and, at the next flush, in the file."""
        with self._lock:
            self._dropped.add((registry, repo, digest))
        super().discard(registry, repo, digest)

    def _read(self) -> dict[str, dict[str, set[str]]]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # An unreadable cache only costs HEAD requests; never fail a sync on it.
            log.warning("ignoring unreadable blob cache %s: %s", self.path, exc)
            return {}
        if not isinstance(raw, dict) or raw.get("version") != self.VERSION:
            log.warning("ignoring blob cache %s of unknown format", self.path)
            return {}
        regs = raw.get("registries") or {}
        return {
            reg: {dig: set(repos) for dig, repos in digests.items()}
            for reg, digests in regs.items()
        }

    def flush(self) -> None:
        """Merge with what other processes wrote, then replace the file atomically."""
        with self._lock:
            merged = self._read()
            for reg, repo, dig in self._dropped:
                merged.get(reg, {}).get(dig, set()).discard(repo)
            self._dropped.clear()
            for reg, digests in self._data.items():
                for dig, repos in digests.items():
                    merged.setdefault(reg, {}).setdefault(dig, set()).update(repos)
            doc = {
                "version": self.VERSION,
                "registries": {
                    reg: {dig: sorted(repos) for dig, repos in digests.items() if repos}
                    for reg, digests in merged.items()
                },
            }
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".blobs-")
                with os.fdopen(fd, "w") as fh:
                    json.dump(doc, fh)
                os.replace(tmp, self.path)
            except OSError as exc:
                raise CacheError(f"cannot write blob cache {self.path}: {exc}") from exc
