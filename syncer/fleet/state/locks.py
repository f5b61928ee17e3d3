"""Fleet-wide coordination: in-flight blob locks, connection leases, shared backoff.

All three expire on their own, so a worker killed with ``kill -9`` never
wedges the fleet: its lock and leases lapse after ``ttl`` seconds and a
redelivered task takes over.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from syncer import defaults
from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import best_effort, text
from syncer.registry import waiting
from syncer.registry.throttle import paused

log = logging.getLogger(__name__)

# Extend or delete only if we still own the key.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS[1] = lease zset; ARGV = now, expiry, limit, lease id.
_ACQUIRE_LEASE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(ARGV[2]) - tonumber(ARGV[1])) * 1000))
  return 1
end
return 0
"""


class _Heartbeat:
    """Calls ``beat`` every ``interval`` seconds on a daemon thread until stopped."""

    def __init__(self, beat: object, interval: float) -> None:
        self._beat, self._interval = beat, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with best_effort("the next beat extends the key") as attempt:
                self._beat()  # type: ignore[operator]
            if attempt.failed:
                log.warning("heartbeat failed: %s", attempt.error)


class InflightLocks:
    """One lock per (destination registry, digest): a shared blob is uploaded once."""

    def __init__(self, client: redis.Redis, ttl: float = 60.0) -> None:
        self.redis = client
        self.ttl = ttl
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    def holder(self, registry: str, digest: str) -> str | None:
        """Who holds the lock, if anyone."""
        return text(self.redis.get(keys.inflight_lock(registry, digest)))

    @contextmanager
    def hold(self, registry: str, digest: str, owner: str) -> Iterator[bool]:
        """Try to take the lock; yield whether we got it, keep it alive while inside."""
        key = keys.inflight_lock(registry, digest)
        ms = int(self.ttl * 1000)
        got = bool(self.redis.set(key, owner, nx=True, px=ms))
        if not got:
            yield False
            return
        try:
            with _Heartbeat(lambda: self._extend(keys=[key], args=[owner, ms]), self.ttl / 3):
                yield True
        finally:
            self._let_go(key, owner)

    def _let_go(self, key: str, owner: str) -> None:
        """Release the lock; while Redis is away, keep trying in the background.

        A release lost to a Redis restart (the AOF keeps the key) would make
        every other copy of this blob wait out the TTL: the fleet sat at 0 B/s
        for a minute after Redis came back.
        """
        with best_effort("released again in the background") as attempt:
            self._release(keys=[key], args=[owner])
        if attempt.error is not None:
            log.warning(
                "in-flight lock not released yet (%s); retrying", type(attempt.error).__name__
            )
            threading.Thread(
                target=self._release_later, args=(key, owner), name="release", daemon=True
            ).start()

    def _release_later(self, key: str, owner: str) -> None:
        # Until the key would have expired anyway; the script deletes only our own.
        deadline, delay = time.monotonic() + self.ttl, defaults.RELEASE_RETRY_FIRST
        while time.monotonic() < deadline:
            time.sleep(delay)
            with best_effort("tried again until the key would have expired") as attempt:
                self._release(keys=[key], args=[owner])
            if not attempt.failed:
                return
            delay = min(delay * 2, defaults.RELEASE_RETRY_MAX)


class ConnectionLimiter:
    """A fleet-wide cap on concurrent transfers per registry: a semaphore of expiring leases."""

    def __init__(self, client: redis.Redis, ttl: float = 60.0, poll: float = 0.2) -> None:
        self.redis, self.ttl, self.poll = client, ttl, poll
        self._acquire = client.register_script(_ACQUIRE_LEASE)

    @contextmanager
    def lease(self, registry: str, limit: int | None) -> Iterator[None]:
        """Hold one of ``registry``'s ``limit`` slots (no-op without a limit)."""
        if not limit:
            yield
            return
        key = keys.connection_leases(registry)
        lease = secrets.token_hex(8)
        waited = 0.0
        while not self._acquire(
            keys=[key], args=[time.time(), time.time() + self.ttl, limit, lease]
        ):
            time.sleep(self.poll)
            waited += self.poll
            if waited and waited % 30 < self.poll:
                log.info("waiting for a connection slot to %s (limit %d)", registry, limit)
        try:
            with _Heartbeat(lambda: self._renew(key, lease), self.ttl / 3):
                yield
        finally:
            self.redis.zrem(key, lease)

    def _renew(self, key: str, lease: str) -> None:
        """Extend our lease and the set that holds it (it expires when every holder is gone)."""
        pipe = self.redis.pipeline()
        pipe.zadd(key, {lease: time.time() + self.ttl}, xx=True)
        pipe.pexpire(key, int(self.ttl * 1000))
        pipe.execute()


class RedisThrottle:
    """Backoff shared by every worker: one 429 pauses the whole fleet for that registry."""

    def __init__(self, client: redis.Redis, sleep: object = time.sleep) -> None:
        self.redis = client
        self._sleep = sleep
        self._cache: dict[str, tuple[float, float]] = {}  # registry -> (checked at, until)

    def wait(self, registry: str) -> None:
        """Block while ``registry`` is paused anywhere in the fleet."""
        while True:
            until = self._until(registry)
            left = until - time.time()
            if left <= 0:
                return
            # Counted against the image's wait budget; a pause past it fails the image now.
            waiting.pause(min(left, 1.0), paused(registry), registry, left, self._sleep)  # type: ignore[arg-type]

    def _until(self, registry: str) -> float:
        # One Redis read per registry every 200 ms at most, not one per request.
        checked, until = self._cache.get(registry, (0.0, 0.0))
        now = time.monotonic()
        if now - checked > 0.2:
            raw = None
            with best_effort("backoff is advisory: never fail a request over it"):
                raw = self.redis.get(keys.backoff(registry))
            until = float(raw) if raw else 0.0
            self._cache[registry] = (now, until)
        return until

    def pause(self, registry: str, seconds: float) -> None:
        """Pause ``registry`` for the fleet; a longer pause already in place wins."""
        seconds = min(max(seconds, 0.0), defaults.BACKOFF_MAX)
        until = time.time() + seconds
        key = keys.backoff(registry)
        with best_effort("this worker still pauses; the others meet their own 429") as attempt:
            current = self.redis.get(key)
            if current is None or float(current) < until:
                self.redis.set(key, repr(until), px=int(seconds * 1000) + 1)
                log.warning(
                    "%s asked us to slow down: fleet pauses it for %.1fs", registry, seconds
                )
        if attempt.failed:
            log.warning("could not share backoff for %s: %s", registry, attempt.error)
        self._cache[registry] = (time.monotonic(), until)
