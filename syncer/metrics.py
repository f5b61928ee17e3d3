"""What a process counts while it syncs, behind one small recorder interface.

The engine, the transfer code and the fleet's bookkeeping call
:func:`recorder` at the points where something worth counting happens (a blob
lands, an image settles, a registry answers 429). By default that is
:class:`NoRecorder`, so ``syncer sync`` and the engine need no metrics library;
a Celery worker started with ``--metrics-port`` installs the Prometheus-backed
one (``workers/metrics.py``) with :func:`install`.

Every label is bounded: registries are hosts (``host[:port]``, never user info
or a path), image results one of :data:`RESULTS`, failures a code from
:func:`failure_code`.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol
from urllib.parse import urlsplit

#: Default port of ``syncer metrics`` (workers serve only on the ``--metrics-port`` given).

#: How an image ended, as a metric label.
RESULTS = ("synced", "unchanged", "skipped", "failed")

#: Error codes of the distribution spec (and the ones we imply), the failure labels.
#: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
SPEC_CODES = (
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
)
_CODE = re.compile(r"\b(" + "|".join(SPEC_CODES) + r")\b")
_STATUS = re.compile(r"\bHTTP ([1-5][0-9][0-9])\b")


class Recorder(Protocol):
    """Where counted events go."""

    def bytes_copied(self, source: str, dest: str, n: int) -> None:
        """``n`` body bytes an upload attempt delivered from ``source`` to ``dest``."""

    def streamed(self, n: int) -> None:
        """``n`` bytes just went out (for the current throughput; may be taken back later)."""

    def blob(self, source: str, dest: str, outcome: str) -> None:
        """A blob is in ``dest``: ``copied``, ``mounted`` or ``exists``."""

    def image(self, result: str, code: str) -> None:
        """An image settled: one of :data:`RESULTS`, with a failure code or ``""``."""

    def rate_limited(self, registry: str) -> None:
        """``registry`` answered 429."""

    def backoff(self, registry: str, reason: str) -> None:
        """A wait before talking to ``registry`` again: ``throttle`` or ``retry``."""

    def upload_resumed(self, registry: str) -> None:
        """A chunked upload to ``registry`` resumed from what its session held."""

    def transfer(self) -> AbstractContextManager[None]:
        """Held while one blob is being mounted or streamed."""


class NoRecorder:
    """Counts nothing: the default."""

    def bytes_copied(self, source: str, dest: str, n: int) -> None:
        """Ignore."""

    def streamed(self, n: int) -> None:
        """Ignore."""

    def blob(self, source: str, dest: str, outcome: str) -> None:
        """Ignore."""

    def image(self, result: str, code: str) -> None:
        """Ignore."""

    def rate_limited(self, registry: str) -> None:
        """Ignore."""

    def backoff(self, registry: str, reason: str) -> None:
        """Ignore."""

    def upload_resumed(self, registry: str) -> None:
        """Ignore."""

    def transfer(self) -> AbstractContextManager[None]:
        """A context that does nothing."""
        return nullcontext()


_current: Recorder = NoRecorder()


def recorder() -> Recorder:
    """The process's recorder."""
    return _current


def install(new: Recorder) -> Recorder:
    """Make ``new`` the process's recorder; return the one it replaces."""
    global _current
    old, _current = _current, new
    return old


def image_result(status: str, reason: str) -> str:
    """The result label of an image: a skip is ``unchanged`` only when nothing differed."""
    if status == "skipped":
        return "unchanged" if reason == "unchanged" else "skipped"
    return status if status in RESULTS else "failed"


def failure_code(reason: str) -> str:
    """A bounded label for a failure reason: a spec error code, ``HTTP_5xx``-style, or ``other``."""
    found = _CODE.search(reason)
    if found:
        return found.group(1)
    status = _STATUS.search(reason)
    if status:
        return f"HTTP_{status.group(1)}"
    return "other"


def host_of(url: str) -> str:
    """``host[:port]`` of ``url``, without user info; ``unknown`` when there is none."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    return netloc.lower() if netloc.isprintable() and netloc else "unknown"


def registry_of(exc: BaseException) -> str:
    """The registry host an error came from (its URL), or ``unknown``."""
    return host_of(str(getattr(exc, "url", "") or ""))
