"""In-flight locks, connection leases and the shared backoff against a real ``redis-server``.

Short TTLs (1 s) keep expiry observable; a holder that "dies" is a real
process killed with SIGKILL, so no heartbeat or ``finally`` runs for it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import redis

from syncer import defaults
from syncer.fleet.protocol import keys
from syncer.fleet.state import locks as locks_module
from syncer.fleet.state.locks import ConnectionLimiter, InflightLocks, RedisThrottle
from tests.support.processes import reap
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

REG = "registry.example:5000"
DIGEST = "sha256:" + "d" * 64

_HOLDER = textwrap.dedent("""
    import sys, time
    import redis
    from syncer.fleet.state.locks import ConnectionLimiter, InflightLocks
    client = redis.Redis.from_url(sys.argv[1])
    locks, limiter = InflightLocks(client, ttl=1.0), ConnectionLimiter(client, ttl=1.0)
    with locks.hold(sys.argv[2], sys.argv[3], "doomed") as got:
        assert got
        with limiter.lease(sys.argv[2], 2), limiter.lease(sys.argv[2], 2):
            print("held", flush=True)
            time.sleep(60)
""")


@contextmanager
def _killed_holder(redis_url: str) -> Iterator[float]:
    """A process that takes the lock and both lease slots, then dies by SIGKILL.

    Yields the time it died.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, redis_url, REG, DIGEST], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        proc.kill()
        proc.wait(timeout=10)
        yield time.monotonic()
    finally:
        reap(proc)


def _in_thread(
    target: Callable[[threading.Event], None],
) -> tuple[threading.Thread, threading.Event]:
    """Run ``target(entered)`` on a thread; it sets ``entered`` once it got in."""
    entered = threading.Event()
    thread = threading.Thread(target=target, args=(entered,), daemon=True)
    thread.start()
    return thread, entered


# -- InflightLocks -----------------------------------------------------------------------
def test_second_holder_is_refused(redis_client: redis.Redis) -> None:
    locks = InflightLocks(redis_client, ttl=5.0)

    with locks.hold(REG, DIGEST, "task-1") as first:
        with locks.hold(REG, DIGEST, "task-2") as second:
            assert (first, second) == (True, False)
            assert locks.holder(REG, DIGEST) == "task-1"  # the refused one released nothing
        with locks.hold("other:5000", DIGEST, "task-3") as elsewhere:
            assert elsewhere  # one lock per destination registry
    assert locks.holder(REG, DIGEST) is None
    with locks.hold(REG, DIGEST, "task-2") as again:
        assert again


def test_a_release_lost_to_a_redis_outage_is_retried(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks_module, "RELEASE_RETRY_FIRST", 0.05)
    locks = InflightLocks(redis_client, ttl=30.0)
    key = keys.inflight_lock(REG, DIGEST)
    release, failures = locks._release, [redis.ConnectionError("refused")] * 2

    def flaky(**kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return release(**kwargs)

    monkeypatch.setattr(locks, "_release", flaky)
    with pytest.raises(ValueError, match="digest mismatch"):  # the copy's own error wins
        with locks.hold(REG, DIGEST, "task-1") as got:
            assert got
            raise ValueError("digest mismatch")
    assert locks.holder(REG, DIGEST) == "task-1", "Redis was away: still held"
    # Released once Redis answered, not after the 30 s TTL.
    wait_for("the lock's release", lambda: not redis_client.exists(key), 5, interval=0.02)
    with locks.hold(REG, DIGEST, "task-2") as next_copy:
        assert next_copy


def test_heartbeat_keeps_a_held_lock_beyond_its_ttl(redis_client: redis.Redis) -> None:
    locks = InflightLocks(redis_client, ttl=1.5)
    key = keys.inflight_lock(REG, DIGEST)

    with locks.hold(REG, DIGEST, "slow-upload") as got:
        assert got
        for _ in range(7):  # 3.5 s, over two TTLs
            time.sleep(0.5)
            assert locks.holder(REG, DIGEST) == "slow-upload"
            assert 0 < redis_client.pttl(key) <= 1500
        with locks.hold(REG, DIGEST, "latecomer") as late:
            assert not late
    assert redis_client.exists(key) == 0


def test_release_only_by_the_owner(redis_client: redis.Redis) -> None:
    locks = InflightLocks(redis_client, ttl=5.0)
    key = keys.inflight_lock(REG, DIGEST)

    with ExitStack() as first:
        assert first.enter_context(locks.hold(REG, DIGEST, "stalled"))
        redis_client.delete(key)  # as if it had expired while "stalled" hung
        with ExitStack() as second:
            assert second.enter_context(locks.hold(REG, DIGEST, "successor"))
            first.close()  # the stalled holder finally leaves
            assert locks.holder(REG, DIGEST) == "successor"
        assert locks.holder(REG, DIGEST) is None


def test_lock_of_a_killed_holder_expires(redis_server: str, redis_client: redis.Redis) -> None:
    locks = InflightLocks(redis_client, ttl=1.0)

    with _killed_holder(redis_server) as died:
        assert locks.holder(REG, DIGEST) == "doomed"
        while locks.holder(REG, DIGEST) is not None:
            assert time.monotonic() - died < 3.0, "lock of a dead holder never expired"
            time.sleep(0.05)
        with locks.hold(REG, DIGEST, "redelivered") as got:
            assert got


# -- ConnectionLimiter -------------------------------------------------------------------
def test_third_lease_waits_for_a_free_slot(redis_client: redis.Redis) -> None:
    limiter = ConnectionLimiter(redis_client, ttl=5.0, poll=0.05)
    release = threading.Event()

    def third(entered: threading.Event) -> None:
        with limiter.lease(REG, 2):
            entered.set()
            release.wait(10)

    with ExitStack() as first, ExitStack() as second:
        first.enter_context(limiter.lease(REG, 2))
        second.enter_context(limiter.lease(REG, 2))
        with limiter.lease("other:5000", 2):
            pass  # limits are per registry
        thread, entered = _in_thread(third)
        assert not entered.wait(0.6), "a third lease got in past a limit of 2"
        first.close()
        assert entered.wait(2.0), "the freed slot was not taken"
        assert redis_client.zcard(keys.connection_leases(REG)) == 2
        release.set()
        thread.join(5)
    assert redis_client.zcard(keys.connection_leases(REG)) == 0


def test_no_limit_takes_no_lease(redis_client: redis.Redis) -> None:
    limiter = ConnectionLimiter(redis_client, ttl=5.0)
    with limiter.lease(REG, None), limiter.lease(REG, 0):
        assert redis_client.exists(keys.connection_leases(REG)) == 0


def test_leases_of_a_killed_holder_are_reclaimed(
    redis_server: str, redis_client: redis.Redis
) -> None:
    limiter = ConnectionLimiter(redis_client, ttl=5.0, poll=0.05)

    with _killed_holder(redis_server) as died:
        assert redis_client.zcard(keys.connection_leases(REG)) == 2
        with limiter.lease(REG, 2):
            waited = time.monotonic() - died
    assert 0.3 < waited < 3.0, f"got a slot after {waited:.2f}s"


def test_a_held_lease_outlives_its_ttl(redis_client: redis.Redis) -> None:
    limiter = ConnectionLimiter(redis_client, ttl=1.0, poll=0.05)

    def second(entered: threading.Event) -> None:
        with limiter.lease(REG, 1):
            entered.set()

    with limiter.lease(REG, 1):
        thread, entered = _in_thread(second)
        got_in = entered.wait(2.5)  # a transfer longer than the lease ttl
    thread.join(5)
    assert not got_in, "a second lease got in while the only slot was held"


# -- RedisThrottle ---------------------------------------------------------------------
class _Sleeps:
    """A real sleep that remembers how long it slept."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, seconds: float) -> None:
        self.total += seconds
        time.sleep(seconds)


def test_pause_is_seen_by_another_worker(redis_client: redis.Redis) -> None:
    sleeps = _Sleeps()
    pauser, other = RedisThrottle(redis_client), RedisThrottle(redis_client, sleep=sleeps)

    pauser.pause(REG, 0.8)
    started = time.monotonic()
    other.wait(REG)
    waited = time.monotonic() - started
    other.wait("unrelated:5000")

    assert 0.6 < waited < 2.0 and 0.6 < sleeps.total < 2.0
    assert time.monotonic() - started - waited < 0.2  # the other registry never waited


def test_longer_pause_wins(redis_client: redis.Redis) -> None:
    first, second = RedisThrottle(redis_client), RedisThrottle(redis_client)
    key = keys.backoff(REG)
    now = time.time()

    first.pause(REG, 30)
    second.pause(REG, 0.5)
    long_first = float(redis_client.get(key) or 0)
    second.pause("b:5000", 0.5)
    first.pause("b:5000", 20)
    long_second = float(redis_client.get(keys.backoff("b:5000")) or 0)

    assert now + 29 < long_first < now + 32
    assert 25 < redis_client.ttl(key) <= 31
    assert now + 19 < long_second < now + 22


def test_pause_is_capped(redis_client: redis.Redis) -> None:
    RedisThrottle(redis_client).pause(REG, 3600)
    key = keys.backoff(REG)
    assert 0 < redis_client.ttl(key) <= defaults.BACKOFF_MAX + 1


def _fleet_with_limits(client: redis.Redis, limits: dict[str, int]) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(
        limiter=ConnectionLimiter(client, ttl=5, poll=0.05),
        limits=limits,
        plans=SimpleNamespace(meta=lambda plan: {}, settings=lambda plan: {}),
    )


def test_a_copy_within_one_registry_takes_one_slot(redis_client: redis.Redis) -> None:
    from syncer.fleet.steps.blobsteps import _leases

    fleet = _fleet_with_limits(redis_client, {"reg.example": 1})
    done = threading.Event()

    def copy() -> None:
        with _leases(fleet, "p", "reg.example", "reg.example"):  # type: ignore[arg-type]
            assert redis_client.zcard(keys.connection_leases("reg.example")) == 1
        done.set()

    worker = threading.Thread(target=copy, daemon=True)
    worker.start()
    assert done.wait(5), "source and destination on one registry deadlocked on a limit of 1"


def test_leases_are_taken_in_one_order_so_two_copies_cannot_deadlock(
    redis_client: redis.Redis,
) -> None:
    from syncer.fleet.steps.blobsteps import _leases

    fleet = _fleet_with_limits(redis_client, {"a.example": 1, "b.example": 1})
    finished = []

    def copy(first: str, second: str) -> None:
        for _ in range(20):
            with _leases(fleet, "p", first, second):  # type: ignore[arg-type]
                time.sleep(0.005)
        finished.append(first)

    threads = [
        threading.Thread(target=copy, args=pair, daemon=True)
        for pair in (("a.example", "b.example"), ("b.example", "a.example"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(finished) == ["a.example", "b.example"], "opposite orders deadlocked"
