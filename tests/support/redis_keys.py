"""Looking at a test's Redis database: its keys, and whether they all expire."""

from __future__ import annotations

import redis

from syncer.fleet.protocol import keys


def keys_of(client: redis.Redis) -> list[str]:
    """Every key of the database, sorted."""
    return sorted(k.decode() for k in client.scan_iter(count=1000))


def assert_expiring(client: redis.Redis, ttl: int, *, except_: tuple[str, ...] = ()) -> None:
    """Every key of the database expires within ``ttl`` seconds (but the dataset's epoch)."""
    for key in keys_of(client):
        if key in except_ or key == keys.epoch():
            continue
        left = client.ttl(key)
        assert 0 < left <= ttl, f"{key}: ttl {left}, expected 1..{ttl}"
