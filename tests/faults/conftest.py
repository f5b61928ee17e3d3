"""Fixtures for the fault-injection suite, reused from ``tests/fleet/conftest.py``.

The fleet fixtures (real worker subprocesses, Flower, the CLI) are imported
here rather than declared again, so both suites share one definition. The
Redis and registry fixtures, ``source`` and ``dest`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.conftest import (  # noqa: F401  (re-exported fixtures)
    fleet_home,
    flower,
    syncer_cli,
    workers,
)
from tests.support.binaries import require_binary
from tests.support.chaos import ChaosProxy
from tests.support.processes import RedisProcess, WorkerPool, fleet_env, running


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., ChaosProxy]]:
    """``make_proxy("127.0.0.1:PORT", buffer_bodies=...)``: a started proxy, stopped at teardown."""
    started: list[ChaosProxy] = []

    def make(upstream: str, **kwargs: Any) -> ChaosProxy:
        proxy = ChaosProxy(upstream, **kwargs)
        proxy.start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def cli_env(redis_server: str, fleet_home: Path) -> dict[str, str]:  # noqa: F811  (fleet_home)
    """The environment fleet processes get: the test's Redis, no user docker config."""
    return fleet_env(redis_server, fleet_home)


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A password-protected ``redis-server`` that fsyncs every write to its AOF.

    As docker-compose runs it (``--appendonly yes``), so a restart keeps the
    queue, the plans and the in-flight locks.
    """
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisProcess(require_binary("redis-server"), workdir)
    at = server.argv.index("--appendonly")
    server.argv[at + 1] = "yes"
    server.argv += ["--appendfsync", "always"]
    with running(server):
        yield server


@pytest.fixture
def fleet_pool(durable_redis: RedisProcess, fleet_home: Path) -> Iterator[WorkerPool]:  # noqa: F811
    """Workers on database 1 of the durable Redis; stopped at teardown."""
    pool = WorkerPool(durable_redis.url(1), fleet_home)
    try:
        yield pool
    finally:
        pool.stop()
