"""This worker's network link: is it already saturated by a large blob?

A plan's makespan is bounded below by its largest blob on one link. A worker
streaming such a blob that also takes small copies shares its link with them
and stretches that bound, while other hosts' links sit idle. So a worker with
a large stream in flight hands small copies back to the queue a few times,
for a worker with a free link to take; after that it takes them anyway, so a
fleet of one still makes progress.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: A blob this big keeps a link busy long enough to be worth keeping to itself.
LARGE_BLOB = 64 << 20
#: How many times a small copy is handed back before a busy worker takes it.
MAX_DEFERRALS = 3

_lock = threading.Lock()
_large_streams = 0


def should_defer(size: int, deferrals: int) -> bool:
    """Whether to hand a copy of ``size`` bytes back to the queue."""
    with _lock:
        return _large_streams > 0 and size < LARGE_BLOB and deferrals < MAX_DEFERRALS


@contextmanager
def streaming(size: int) -> Iterator[None]:
    """Mark a copy in flight on this worker's link."""
    global _large_streams
    large = size >= LARGE_BLOB
    if large:
        with _lock:
            _large_streams += 1
    try:
        yield
    finally:
        if large:
            with _lock:
                _large_streams -= 1
