"""Fixtures for the differential tests against the real image-syncer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncer.lab.images import ImageSet, build_image_set, push_image_set
from syncer.lab.registry import RegistryServer
from tests.compat.harness import require_image_syncer


@pytest.fixture(scope="session")
def image_syncer() -> Path:
    """The oracle binary (skips without it locally; fails in CI)."""
    return require_image_syncer()


@pytest.fixture
def compat_source(
    image_syncer: Path, registry_factory: Callable[..., RegistryServer]
) -> tuple[RegistryServer, ImageSet]:
    """A source registry seeded with a small image set: two repos of two tags, lists, an index."""
    server = registry_factory()
    images = build_image_set(7, repos=2, tags_per_repo=2, large_layer_size=0)
    push_image_set(server.url, images)
    return server, images


@pytest.fixture
def make_dest(registry_factory: Callable[..., RegistryServer]) -> Callable[[], Any]:
    """Start a fresh, empty destination registry."""
    return lambda: registry_factory()
