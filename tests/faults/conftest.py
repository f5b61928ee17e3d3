"""Fixtures for the fault-injection suite, reused from ``tests/fleet/conftest.py``.

The fleet fixtures (one password-protected ``redis-server`` for the session,
a flushed database per test, real worker subprocesses, Flower, the CLI) are
imported here rather than declared again, so both suites share one
definition. The registry fixtures come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.chaos import ChaosProxy
from tests.fleet.conftest import (  # noqa: F401  (re-exported fixtures)
    dest,
    fleet_home,
    flower,
    redis_client,
    redis_process,
    redis_server,
    source,
    syncer_cli,
    workers,
)
from tests.fleet.processes import fleet_env


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
def cli_env(redis_server: str, fleet_home: Path) -> dict[str, str]:  # noqa: F811
    """The environment fleet processes get: the test's Redis, no user docker config."""
    return fleet_env(redis_server, fleet_home)
