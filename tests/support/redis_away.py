"""A client of a real ``redis-server`` that was stopped: Redis gone mid-run, as in a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.binaries import require_binary
from tests.support.processes import RedisProcess, running


@contextmanager
def stopped_redis(workdir: Path) -> Iterator[redis.Redis]:
    """A client that reached its server once; the server is stopped before it is yielded."""
    with running(RedisProcess(require_binary("redis-server"), workdir)) as server:
        client = redis.Redis.from_url(server.url(1), socket_connect_timeout=1, socket_timeout=1)
        assert client.ping()
    try:
        yield client
    finally:
        client.close()
