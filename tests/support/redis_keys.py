"""Looking at a test's Redis database: its keys, and whether they all expire."""

from __future__ import annotations

import redis


def keys_of(client: redis.Redis) -> list[str]:
    """Every key of the database, sorted."""
    return sorted(k.decode() for k in client.scan_iter(count=1000))


def assert_expiring(client: redis.Redis, ttl: int, *, except_: tuple[str, ...] = ()) -> None:
    """Every key of the database expires within ``ttl`` seconds."""
    for key in keys_of(client):
        if key in except_:
            continue
        left = client.ttl(key)
        assert 0 < left <= ttl, f"{key}: ttl {left}, expected 1..{ttl}"
