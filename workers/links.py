"""This worker's network link: is it already saturated by a large blob?

A plan's makespan is bounded below by its largest blob on one link. A worker
streaming such a blob that also takes small copies shares its link with them
and stretches that bound, while other hosts' links sit idle. So a worker with
a large stream in flight stops taking tasks from the shared queue while some
other worker's link is idle (see :mod:`workers.intake`), and hands back the
small copies it had already taken (which workers are alive and which links
are busy is shared in Redis). With no idle peer, or after a few hand-offs, a
busy worker takes the copy itself, so a fleet of one still makes progress.

The state shared in Redis is :class:`syncer.fleet.state.links.Links`; this module
holds what is this worker process's own: its streams and its intake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from syncer.fleet.state.links import Links
from workers import intake

#: A blob this big keeps a link busy long enough to be worth keeping to itself.
LARGE_BLOB = 64 << 20
#: How many times a small copy is handed on before a busy worker takes it.
MAX_DEFERRALS = 3
#: How often a working worker says it is alive to the link scheduler.
ALIVE_EVERY = 5.0


_lock = threading.Lock()
_large_streams = 0
_paused = False
_last_alive = -ALIVE_EVERY


def should_hand_back(size: int, hand_backs: int) -> bool:
    """Whether to hand a copy of ``size`` bytes back to the queue, for an idle peer."""
    with _lock:
        return _large_streams > 0 and size < LARGE_BLOB and hand_backs < MAX_DEFERRALS


@contextmanager
def streaming(
    size: int, client: redis.Redis | None = None, me: str = "", *, pause_intake: bool = False
) -> Iterator[None]:
    """Mark a copy in flight on this worker's link (and tell the fleet about large ones).

    With ``pause_intake``, the first large stream also pauses this worker's
    intake of tasks while an idle peer exists; the last one resumes it, and
    so does a watcher as soon as no peer's link is idle any more.
    """
    global _large_streams
    large, first = size >= LARGE_BLOB, False
    if large:
        with _lock:
            _large_streams += 1
            first = _large_streams == 1
    try:
        _announce(client, me, large)
        if large and first and pause_intake and client is not None:
            _pause_while_a_peer_is_idle(client, me)
        yield
    finally:
        if large:
            with _lock:
                _large_streams -= 1
                still_busy = _large_streams > 0
            if not still_busy:
                _resume()
                if client is not None:
                    Links(client).free(me)


def _pause_while_a_peer_is_idle(client: redis.Redis, me: str) -> None:
    global _paused
    if idle_peer(client, me) is None:
        return
    with _lock:
        _paused = True
    if not intake.pause():
        _resume()  # not inside a running worker
        return
    threading.Thread(target=_watch_peers, args=(client, me), daemon=True).start()


def _watch_peers(client: redis.Redis, me: str) -> None:
    """While paused, resume as soon as no peer's link is idle (one died, or got busy)."""
    while True:
        time.sleep(ALIVE_EVERY)
        with _lock:
            if not _paused:
                return
        if idle_peer(client, me) is None:
            _resume()
            return


def _resume() -> None:
    global _paused
    with _lock:
        was, _paused = _paused, False
    if was:
        intake.resume()


def alive(client: redis.Redis, me: str) -> None:
    """Tell the fleet this worker is up, at most once per :data:`ALIVE_EVERY` seconds."""
    global _last_alive
    now = time.monotonic()
    with _lock:
        if now - _last_alive < ALIVE_EVERY:
            return
        _last_alive = now
    _announce(client, me, large=False)


def idle_peer(client: redis.Redis, me: str) -> str | None:
    """A live worker other than ``me`` whose link carries no large blob, if any."""
    return Links(client).idle_peer(me)


def _announce(client: redis.Redis | None, me: str, large: bool) -> None:
    if client is not None:  # outside a worker (a unit test) there is no fleet to tell
        Links(client).announce(me, large)
