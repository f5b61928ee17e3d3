"""SIGINT and SIGTERM during a sync: handlers in place only while it runs, and the last line."""

from __future__ import annotations

import signal
import threading

from syncer.cli.interrupts import Interrupts, interrupted_line
from syncer.engine.progress import Stats


def test_the_handlers_are_ours_during_the_sync_and_restored_after() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signals = Interrupts(threading.Event())
    with signals:
        during = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert during == (signals._handle, signals._handle)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert signals.signum == 0 and not signals.stop.is_set()


def test_the_interrupt_line_counts_what_is_unfinished() -> None:
    stats = Stats()
    stats.images.total, stats.images.done, stats.images.skipped, stats.images.failed = 10, 3, 2, 1
    line = interrupted_line(signal.SIGTERM, stats)
    assert line.startswith("syncer: interrupted by SIGTERM: 3 synced, 2 skipped, 1 failed,")
    assert line.endswith("4 unfinished (of 10); nothing was tagged for unfinished images")
