"""Progress counters, the stderr progress bar, and the end-of-run summary.

Each number means one thing, in ``syncer sync`` and in the fleet alike
(``syncer/fleet/state/plans.py`` keeps the same counters in Redis):

* bytes total: the sizes of the distinct blobs the run's images reference, one
  per (destination registry, digest), whether or not they have to be sent;
* bytes done, "moved": body bytes this run sent to a destination;
* bytes skipped, "already there": blobs of the total that were present or
  mounted, so nobody sent them (a blob's first outcome in its registry decides);
* bytes failed: blobs of the total that could not be copied;
* blobs done: blobs this run landed in a repository, copied or mounted;
  ``mounted`` is the mounted part of them, so "copied" is done minus mounted;
* elapsed: from the run's start to its end, and no further.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from syncer.engine.jobs import ImageResult
from syncer.text import escape


@dataclass(slots=True)
class Counter:
    """Total, done, skipped and failed for one kind of thing."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
        }


@dataclass(slots=True)
class Stats:
    """Thread-safe counters for one run."""

    images: Counter = field(default_factory=Counter)
    blobs: Counter = field(default_factory=Counter)
    bytes: Counter = field(default_factory=Counter)
    mounted: int = 0
    started: float = field(default_factory=time.monotonic)
    #: ``time.monotonic()`` when the run ended; None while it runs.
    ended: float | None = None
    results: list[ImageResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counted: set[tuple[str, str]] = field(default_factory=set)
    _settled: set[tuple[str, str]] = field(default_factory=set)

    def add(self, what: str, attr: str, n: int = 1) -> None:
        """``stats.add("blobs", "done")``: bump one counter."""
        with self._lock:
            counter: Counter = getattr(self, what)
            setattr(counter, attr, getattr(counter, attr) + n)

    def moved(self, n: int) -> None:
        """Count ``n`` bytes sent to a destination."""
        self.add("bytes", "done", n)

    def reference(self, registry: str, digest: str, size: int) -> bool:
        """Count a blob into the byte total, once per (registry, digest); True the first time."""
        with self._lock:
            if (registry, digest) in self._counted:
                return False
            self._counted.add((registry, digest))
            self.bytes.total += max(size, 0)
            return True

    def settle(self, registry: str, digest: str, size: int, outcome: str) -> None:
        """A blob's first outcome in its registry: not sent (``exists``, ``mounted``) is skipped.

        ``copied`` adds nothing here: its bytes were counted by :meth:`moved`
        as they went. ``failed`` counts the blob's bytes as failed.
        """
        with self._lock:
            if (registry, digest) in self._settled:
                return
            self._settled.add((registry, digest))
            if outcome in ("exists", "mounted"):
                self.bytes.skipped += max(size, 0)
            elif outcome == "failed":
                self.bytes.failed += max(size, 0)

    def finish(self) -> None:
        """Stop the clock: :attr:`elapsed` no longer grows."""
        if self.ended is None:
            self.ended = time.monotonic()

    def record(self, result: ImageResult) -> None:
        """Record an image's final outcome."""
        with self._lock:
            self.results.append(result)
            attr = {"synced": "done", "skipped": "skipped", "failed": "failed"}[result.status]
            setattr(self.images, attr, getattr(self.images, attr) + 1)

    @property
    def elapsed(self) -> float:
        """Seconds from the run's start to its end (or to now, while it runs)."""
        return (time.monotonic() if self.ended is None else self.ended) - self.started

    def report(self) -> dict[str, Any]:
        """The machine-readable report (``--output json``)."""
        with self._lock:
            results = list(self.results)
            data = {
                "images": self.images.to_dict(),
                "blobs": {**self.blobs.to_dict(), "mounted": self.mounted},
                "bytes": self.bytes.to_dict(),
            }
        elapsed = self.elapsed
        return {
            **data,
            "elapsed_seconds": round(elapsed, 3),
            "throughput_bytes_per_second": int(self.bytes.done / elapsed) if elapsed else 0,
            "failed": [r.to_dict() for r in results if r.status == "failed"],
            "results": [r.to_dict() for r in results],
        }


def human_bytes(n: float) -> str:
    """``1536`` → ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def bytes_line(done: int, skipped: int, total: int) -> tuple[float, str]:
    """The share of the byte total settled, and ``12.0 MiB moved + 300.0 MiB there / 328.0 MiB``.

    The share counts bytes moved and bytes already there, and so does the text:
    a plan of mounts is at 100% with ``0 B moved``, which the words then say.
    """
    share = min(1.0, (done + skipped) / total) if total else 0.0
    text = f"{human_bytes(done)} moved + {human_bytes(skipped)} there / {human_bytes(total)}"
    return share, text


def _bytes_words(stats: Stats, elapsed: float, rate: int, skipped_images: int) -> str:
    """``moved … in …s (…/s); … of … already there``, and what the bytes leave out.

    A skipped image is settled by its manifest digest alone: its blobs are
    never looked at, so they are in no byte count, and the line says so
    rather than report ``0 B of 0 B`` for a no-op run over gigabytes.
    """
    parts = [f"moved {human_bytes(stats.bytes.done)} in {elapsed:.1f}s ({human_bytes(rate)}/s)"]
    if stats.bytes.total or not skipped_images:
        there, total = human_bytes(stats.bytes.skipped), human_bytes(stats.bytes.total)
        parts.append(f"{there} of {total} already there")
    if skipped_images:
        parts.append(f"{skipped_images} skipped image{'s' * (skipped_images != 1)} not in bytes")
    return "; ".join(parts)


def summary(stats: Stats) -> str:
    """The human summary printed at the end of a run."""
    rep = stats.report()
    img, elapsed = rep["images"], rep["elapsed_seconds"]
    lines = [
        f"images: {img['done']} synced, {img['skipped']} skipped, {img['failed']} failed "
        f"(of {img['total']})",
        f"blobs: {rep['blobs']['done'] - rep['blobs']['mounted']} copied, "
        f"{rep['blobs']['mounted']} mounted, {rep['blobs']['skipped']} already present",
        _bytes_words(stats, elapsed, rep["throughput_bytes_per_second"], img["skipped"]),
    ]
    failed = rep["failed"]
    if failed:
        lines.append(f"failed images ({len(failed)}):")
        lines.extend(escape(f"  {f['source']} -> {f['dest']}: {f['reason']}") for f in failed)
    return "\n".join(lines)


class ProgressBar:
    """Redraws one status line on a TTY every half second; silent elsewhere."""

    def __init__(self, stats: Stats, stream: TextIO | None = None) -> None:
        # sys.stderr as it is now, not as it was at import (a test's capture, a redirect)
        stream = stream or sys.stderr
        self._stats, self._stream = stats, stream
        self._enabled = stream.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self) -> ProgressBar:
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._stop.set()
            self._thread.join()
            self._stream.write("\r\033[K")
            self._stream.flush()

    def line(self) -> str:
        """The current status line."""
        s = self._stats
        elapsed = max(s.elapsed, 1e-6)
        rate = s.bytes.done / elapsed
        left = max(s.bytes.total - s.bytes.done - s.bytes.skipped - s.bytes.failed, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 and left else ("0s" if not left else "?")
        share, text = bytes_line(s.bytes.done, s.bytes.skipped, s.bytes.total)
        filled = int(share * 20)
        bar = "#" * filled + "-" * (20 - filled)
        images = s.images.done + s.images.skipped + s.images.failed
        return (
            f"[{bar}] {share * 100:5.1f}% {text} "
            f"{human_bytes(rate)}/s eta {eta} | blobs {s.blobs.done + s.blobs.skipped}/"
            f"{s.blobs.total} | images {images}/{s.images.total}"
        )

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._stream.write("\r\033[K" + self.line())
            self._stream.flush()
