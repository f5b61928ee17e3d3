"""Fixtures for the distributed mode: a real Redis, Celery workers, Flower and the CLI.

The Redis fixtures (one ``redis-server`` for the session, a flushed database
per test) are in ``tests/conftest.py``; a database of its own keeps the worker
processes of one test from seeing another's plans, locks or cache. Workers,
Flower and every ``syncer`` invocation run as subprocesses with an isolated
environment: this Redis, the test's auth file, no user docker config.
Everything binds to 127.0.0.1. Tests skip when ``redis-server`` is missing,
and fail in CI.
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import (
    CliRun,
    FlowerProcess,
    ManagedProcess,
    RunCli,
    WorkerFactory,
    WorkerPool,
    fleet_env,
    run_cli,
    running_flower,
)


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


@pytest.fixture
def older_worker(redis_server: str, fleet_home: Path) -> Iterator[Callable[..., ManagedProcess]]:
    """Start ``celery -A tests.support.older_worker worker`` as ``syncer worker`` would."""
    started: list[ManagedProcess] = []

    def start(auth: Path, loglevel: str = "INFO") -> ManagedProcess:
        node = f"older-{secrets.token_hex(3)}@localhost"
        argv = [sys.executable, "-m", "celery", "-A", "tests.support.older_worker", "worker"]
        argv += ["--loglevel", loglevel, "--concurrency", "2", "--pool", "threads"]
        argv += ["--without-gossip", "--without-mingle", "-E", "--hostname", node]
        env = fleet_env(redis_server, fleet_home, {"SYNCER_AUTH_FILE": str(auth)})
        worker = ManagedProcess(node, argv, env, fleet_home / f"{node}.log")
        worker.start()
        started.append(worker)
        worker.wait_for_log(re.escape(node) + r" ready\.")
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
