"""Deadlines on every network wait, and one switch that aborts every request in flight.

requests and urllib3 only time out a single ``recv``: a server that drips a
byte every few seconds, or reads a request and answers at leisure, defeats
them. A :class:`Watch` follows one request: while we wait for an answer it
has a total deadline; while a body streams (a blob read, an upload) it has a
minimum throughput, averaged over a window and measured only over the time
the thread is blocked on that connection, so a slow destination never counts
against the source, nor the reverse.

One daemon thread checks every watch a few times a second. When one is
breached it shuts the watch's socket down: the blocked thread fails at once,
and :mod:`syncer.registry.transport` reports the breach as a
:class:`~syncer.errors.DeadlineError`. Sockets are found through the urllib3
pools of :class:`WatchedAdapter`, which hand each connection to the watch of
the thread that takes it.

:func:`interrupt` (SIGINT or SIGTERM in ``syncer sync``) aborts every watched
request the same way, refuses new ones, and wakes every :func:`sleep`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3 import poolmanager as _poolmanager

from syncer import defaults
from syncer.errors import CancelledError, DeadlineError

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"

_STOP = threading.Event()


@dataclass(frozen=True, slots=True)
class Limits:
    """How long an answer may take, and how slow a stream may be."""

    answer: float = defaults.REQUEST_DEADLINE
    min_rate: float = defaults.MIN_RATE
    window: float = defaults.RATE_WINDOW

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, overridden by ``$SYNCER_*`` variables."""
        return cls(defaults.request_deadline(), defaults.min_rate(), defaults.rate_window())


class Watch:
    """One request in flight: its deadline or byte meter, and the connections it uses."""

    def __init__(
        self, what: str, limits: Limits, clock: Any = time.monotonic, why: str = ""
    ) -> None:
        self.what, self.limits, self._clock = what, limits, clock
        #: What set the answer deadline, when not SYNCER_REQUEST_DEADLINE (a wait budget).
        self.why = why or "SYNCER_REQUEST_DEADLINE"
        self.fired = ""
        self.ended = False
        self.conns: list[Any] = []  # urllib3 connections
        self._deadline: float | None = clock() + limits.answer
        self._metering = False
        self._active, self._span, self._bytes = 0.0, 0.0, 0
        self._flowing = False
        self._mark = (0.0, 0)

    def expect_answer(self) -> None:
        """From now on the registry owes an answer within the deadline."""
        self._metering, self._deadline = False, self._clock() + self.limits.answer

    def expect_stream(self) -> None:
        """From now on a body streams: meter it, with a fresh window."""
        self._deadline, self._metering = None, True
        self._mark = (self._active_at(self._clock()), self._bytes)

    @contextmanager
    def flowing(self) -> Iterator[None]:
        """Time spent in this block is the connection's: it counts toward the rate."""
        self._span = self._clock()
        self._flowing = True
        try:
            yield
        finally:
            # In this order, so the watchdog thread never counts a span twice.
            span, self._flowing = self._clock() - self._span, False
            self._active += span

    def add(self, count: int) -> None:
        """Credit ``count`` bytes that went through."""
        self._bytes += count

    def _active_at(self, now: float) -> float:
        return self._active + (now - self._span if self._flowing else 0.0)

    def breach(self, now: float) -> str:
        """Why this watch is out of time at ``now``, or ``""``."""
        if self._deadline is not None and now >= self._deadline:
            return f"no answer within {self.limits.answer:g} s ({self.why})"
        if not self._metering:
            return ""
        active = self._active_at(now)
        since, base = self._mark
        if active - since < self.limits.window:
            return ""
        if self._bytes - base < self.limits.min_rate * (active - since):
            return (
                f"slower than {self.limits.min_rate:g} bytes/s over "
                f"{self.limits.window:g} s (SYNCER_MIN_RATE, SYNCER_RATE_WINDOW)"
            )
        self._mark = (active, self._bytes)
        return ""

    def check(self, cause: BaseException | None = None) -> None:
        """Raise the deadline or interruption that cut this request off, if any."""
        if self.fired == INTERRUPTED:
            raise CancelledError(f"{self.what}: interrupted") from cause
        if self.fired:
            raise DeadlineError(f"{self.what}: {self.fired}") from cause

    def end(self) -> None:
        """The request is over: stop watching it (never cut it off from now on)."""
        self.ended = True
        _DOG.forget(self)


class _Watchdog:
    """The thread that fires breached watches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._watches: set[Watch] = set()
        # Ended watches, dropped from _watches under the lock by the next begin
        # or tick. end() takes no lock: it also runs from weakref finalizers,
        # which the garbage collector may call in any thread, the watchdog's
        # own included, while that thread holds the lock (it deadlocked a
        # worker for good, with every request thread waiting on the lock).
        self._ended: collections.deque[Watch] = collections.deque()
        self._owners: weakref.WeakKeyDictionary[Any, Watch] = weakref.WeakKeyDictionary()
        self._local = threading.local()
        self._limits: Limits | None = None
        self._thread: threading.Thread | None = None

    def limits(self) -> Limits:
        """The limits of this process, read from the environment once."""
        if self._limits is None:
            self._limits = Limits.from_env()
        return self._limits

    def begin(self, what: str, answer: float | None = None, why: str = "") -> Watch:
        """Start watching a request; refused once interrupted.

        ``answer`` shortens the answer deadline, for the reason ``why``.
        """
        if _STOP.is_set():
            raise CancelledError(f"{what}: interrupted")
        limits = self.limits()
        if answer is not None and answer < limits.answer:
            limits = dataclasses.replace(limits, answer=answer)
        watch = Watch(what, limits, why=why)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadline", daemon=True)
                self._thread.start()
            self._prune()
            self._watches.add(watch)
            self._wake.notify()
        return watch

    def forget(self, watch: Watch) -> None:
        """Stop watching (lock-free: see ``_ended``)."""
        self._ended.append(watch)

    def _prune(self) -> None:
        """Drop the ended watches; the caller holds the lock."""
        while self._ended:
            self._watches.discard(self._ended.popleft())

    def watching(self) -> set[Watch]:
        """The watches of requests still in flight."""
        with self._lock:
            self._prune()
            return set(self._watches)

    @contextmanager
    def current(self, watch: Watch) -> Iterator[None]:
        """Connections this thread takes from a pool in this block belong to ``watch``."""
        outer = getattr(self._local, "watch", None)
        self._local.watch = watch
        try:
            yield
        finally:
            self._local.watch = outer

    def claim(self, conn: Any) -> None:
        """Hand ``conn`` to the current thread's watch."""
        watch: Watch | None = getattr(self._local, "watch", None)
        if watch is not None:
            with self._lock:
                self._owners[conn] = watch
                watch.conns.append(conn)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._prune()
                while not self._watches:
                    self._wake.wait()
                    self._prune()
                watches = list(self._watches)
            stopping = _STOP.is_set()
            try:
                self._sweep(watches, stopping)
            except Exception:  # the watchdog must outlive any one bad watch
                log.exception("deadline watchdog")
            if stopping:
                time.sleep(defaults.DEADLINE_TICK)
            else:
                _STOP.wait(defaults.DEADLINE_TICK)

    def _sweep(self, watches: list[Watch], stopping: bool) -> None:
        now = time.monotonic()
        for watch in watches:
            if watch.ended:
                continue
            if not watch.fired:
                watch.fired = INTERRUPTED if stopping else watch.breach(now)
                if watch.fired:
                    log.debug("%s: %s", watch.what, watch.fired)
            if watch.fired:
                # Again on every tick until the request ends: it may have taken
                # or connected a socket after it was first cut off.
                self._cut(watch)

    def _cut(self, watch: Watch) -> None:
        with self._lock:
            for conn in watch.conns:
                sock = conn.sock
                if self._owners.get(conn) is watch and sock is not None:
                    try:
                        # The plain socket's shutdown, even under TLS: SSLSocket's
                        # own would unwrap it under the feet of the reading thread.
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                    except OSError:
                        pass


_DOG = _Watchdog()


def _after_fork() -> None:
    # A forked child has none of its parent's threads, and maybe a held lock.
    global _DOG
    _DOG = _Watchdog()


os.register_at_fork(after_in_child=_after_fork)


def begin(what: str, answer: float | None = None, why: str = "") -> Watch:
    """Start watching one request, named ``what`` in errors; ``answer`` may shorten its deadline."""
    return _DOG.begin(what, answer, why)


def current(watch: Watch) -> Any:
    """Context: connections taken from a watched pool in it belong to ``watch``."""
    return _DOG.current(watch)


def limits() -> Limits:
    """This process's limits (raises :class:`~syncer.errors.ConfigError` if misconfigured)."""
    return _DOG.limits()


def interrupt() -> None:
    """Abort every request in flight, refuse new ones, wake every :func:`sleep`.

    Only sets an event, so it is safe in a signal handler.
    """
    _STOP.set()


def interrupted() -> bool:
    """Whether :func:`interrupt` was called."""
    return _STOP.is_set()


def sleep(seconds: float) -> None:
    """``time.sleep``, cut short by :func:`interrupt` with :class:`CancelledError`."""
    if _STOP.wait(max(seconds, 0.0)):
        raise CancelledError("interrupted")


class _HTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _DOG.claim(conn)
        return conn


class _HTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _DOG.claim(conn)
        return conn


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


def _watched(manager: PoolManager) -> PoolManager:
    # Only urllib3's stock pools are replaced; a SOCKS manager keeps its own.
    if manager.pool_classes_by_scheme is _poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _POOLS
    return manager


class WatchedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections the watchdog can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager with watched pools."""
        super().init_poolmanager(*args, **kwargs)
        _watched(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> PoolManager:
        """The proxy's pool manager, with watched pools."""
        return _watched(super().proxy_manager_for(proxy, **kwargs))
