"""SIGINT and SIGTERM during a sync: the first stops it within seconds, a second at once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeAlias

from syncer.cli.exits import by_signal
from syncer.engine.progress import Stats
from syncer.registry import deadline

#: After SIGINT or SIGTERM, ``syncer sync`` exits at the latest this many
#: seconds later, even if some thread cannot be woken (a DNS lookup).
STOP_GRACE = 3.0


#: What ``signal.signal`` takes and hands back.
Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Interrupts:
    """Stops a sync on the first signal, and the process on a second or after a grace.

    The first signal stops new work, aborts every request in flight and
    unwinds the main thread with ``KeyboardInterrupt``; should anything still
    hold on after :data:`STOP_GRACE` seconds, the process
    exits anyway. Nothing half-written is left: blob uploads are committed
    only after their digest matched, and a manifest PUT is atomic.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.signum = 0
        self._armed = threading.Event()
        # Started now, not in the handler: starting a thread takes a lock the
        # interrupted main thread may be holding.
        self._grace = threading.Thread(target=self._exit_late, name="stop-grace", daemon=True)
        self._previous: dict[signal.Signals, Handler] = {}

    def __enter__(self) -> Interrupts:
        self._grace.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.signum:
            return  # keep the handler: a second signal during cleanup exits at once
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum:
            os.write(2, b"syncer: interrupted again: exiting now\n")
            os._exit(by_signal(self.signum))
        self.signum = signum
        self.stop.set()
        deadline.interrupt()
        self._armed.set()
        raise KeyboardInterrupt

    def _exit_late(self) -> None:
        self._armed.wait()
        time.sleep(STOP_GRACE)
        os.write(2, b"syncer: interrupted: some work did not stop in time; exiting\n")
        os._exit(by_signal(self.signum))


def interrupted_line(signum: int, stats: Stats) -> str:
    """The one line printed when a signal stopped the sync."""
    img = stats.images
    left = max(img.total - img.done - img.skipped - img.failed, 0)
    return (
        f"syncer: interrupted by {signal.Signals(signum).name}: {img.done} synced, "
        f"{img.skipped} skipped, {img.failed} failed, {left} unfinished (of {img.total}); "
        "nothing was tagged for unfinished images"
    )
