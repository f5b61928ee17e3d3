"""Fixtures for hostile-registry tests: scripted servers on loopback and an isolated home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hostile import Pool, pool
from tests.support.runner import isolated_env


@pytest.fixture
def hostile() -> Iterator[Pool]:
    """Start :class:`~tests.support.hostile.HostileRegistry` servers; all stop at teardown."""
    yield from pool()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment a ``syncer`` subprocess runs in: nothing of the user's."""
    return isolated_env(tmp_path / "home")
