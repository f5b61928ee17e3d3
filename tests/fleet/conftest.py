"""Fixtures for the distributed mode: a real Redis, Celery workers, Flower and the CLI.

One ``redis-server`` serves the session; every test gets a database number
of its own, flushed before and after (as rq's tests do), so the worker
processes of one test never see another's plans, locks or cache. Workers,
Flower and every ``syncer`` invocation run as subprocesses with an isolated
environment: this Redis, the test's auth file, no user docker config.
Everything binds to 127.0.0.1. Tests skip when ``redis-server`` is missing,
and fail in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.binaries import require_binary
from tests.support.processes import (
    CliRun,
    FlowerProcess,
    RedisProcess,
    RunCli,
    WorkerFactory,
    WorkerPool,
    fleet_env,
    run_cli,
    running,
    running_flower,
)


@pytest.fixture(scope="session")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One password-protected ``redis-server --save "" --appendonly no`` for the session."""
    with running(
        RedisProcess(require_binary("redis-server"), tmp_path_factory.mktemp("redis"))
    ) as server:
        yield server


@pytest.fixture
def redis_server(redis_process: RedisProcess) -> Iterator[str]:
    """The URL of an empty database of the test's own, flushed again afterwards."""
    with redis_process.database() as url:
        yield url


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    """A client of the test's database."""
    client = redis.Redis.from_url(redis_server)
    yield client
    client.close()


@pytest.fixture
def fleet_home(tmp_path: Path) -> Path:
    """Where the test's fleet processes keep logs, auth files and an empty docker config."""
    home = tmp_path / "fleet"
    home.mkdir()
    return home


@pytest.fixture
def workers(redis_server: str, fleet_home: Path) -> Iterator[WorkerFactory]:
    """Start real Celery workers (``python -m syncer worker``); all stopped at teardown.

    ``workers(2, auth=path, concurrency=3)`` returns once every new worker has
    logged ``<node> ready.``; each logs to its own file (``.log_path``).
    """
    pool = WorkerPool(redis_server, fleet_home)
    try:
        yield pool.start
    finally:
        pool.stop()


@pytest.fixture
def flower(redis_server: str, fleet_home: Path) -> Iterator[FlowerProcess]:
    """A real Flower (Basic auth ``user:pass``) on the test's Redis, ready for HTTP."""
    with running_flower(redis_server, fleet_home) as server:
        yield server


@pytest.fixture
def syncer_cli(redis_server: str, fleet_home: Path) -> RunCli:
    """Run ``python -m syncer ARGS`` against the test's Redis; ``timeout=`` bounds it."""

    def run(*args: Any, timeout: float = 90.0) -> CliRun:
        return run_cli(args, fleet_env(redis_server, fleet_home), timeout=timeout)

    return run
