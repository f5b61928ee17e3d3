"""Fixtures for the differential tests against the real image-syncer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.content import ImageSet
from lab.images import build_image_set, push_image_set
from lab.registry import HtpasswdAuth, RegistryServer
from tests.support.compat import require_image_syncer
from tests.support.compat_rules import Servers, servers
from tests.support.registries import write_htpasswd

#: The login of :func:`make_basic_dest`'s registries.
BASIC_USER, BASIC_PASSWORD = "mirror-bot", "s3cret-0123"
#: Tags of ``coreos/kube-rbac-proxy`` in :func:`shared_source` (image-syncer's examples).
EXAMPLE_TAGS = ("v1.0", "v2.0", "v1.1", "aaa")


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


@pytest.fixture(scope="module")
def shared_source(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RegistryServer, ImageSet]]:
    """One seeded source per module (a run of image-syncer costs seconds; seeding too).

    ``lab/app0``, ``lab/app1`` (tags v1, v2), ``lab/multi`` (list, oci, index; not the
    nested index, on which image-syncer panics), and ``coreos/kube-rbac-proxy`` with
    :data:`EXAMPLE_TAGS`, the repository image-syncer's example files name.
    """
    built = build_image_set(7, repos=2, tags_per_repo=2, large_layer_size=0)
    kept = [i for i in built.images if i.tag != "nested"]
    plain = [i for i in kept if i.repo.startswith("lab/app")]
    examples = [
        dataclasses.replace(image, repo="coreos/kube-rbac-proxy", tag=tag)
        for image, tag in zip(plain, EXAMPLE_TAGS, strict=True)
    ]
    images = ImageSet((*kept, *examples))
    server = RegistryServer(binary=registry_binary, workdir=tmp_path_factory.mktemp("source"))
    server.start()
    try:
        push_image_set(server.url, images)
        yield server, images
    finally:
        server.stop()


@pytest.fixture
def make_basic_dest(
    registry_factory: Callable[..., RegistryServer], tmp_path: Path
) -> Callable[[], Any]:
    """Start fresh destinations that take HTTP Basic auth (:data:`BASIC_USER`)."""
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {BASIC_USER: BASIC_PASSWORD})
    return lambda: registry_factory(auth=HtpasswdAuth(str(htpasswd)))


@pytest.fixture(scope="module")
def dest_pool(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    """Fresh destinations for a module whose cases run at once (``Servers.start``)."""
    with servers(registry_binary, tmp_path_factory.mktemp("dests")) as pool:
        yield pool
