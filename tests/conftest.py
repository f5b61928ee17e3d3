"""Shared fixtures: real ``docker-registry`` processes in four flavours, and a seeded image set.

Every registry fixture yields a :class:`~tests.support.registries.LabRegistry`
(``.server``, ``.host``, ``.url``, ``.username``, ``.password``, ``.auth``,
``.verify``, ``.ca_cert``, ``.issuer``). Registries start in well under a
second, so each test gets its own, with empty storage. Tests using them are
marked ``integration``; they skip when the binary is missing, and fail in CI.

One password-protected ``redis-server`` serves the session; every test that
asks for ``redis_server`` or ``redis_client`` gets a database number of its
own, flushed before and after (as rq's tests do). It skips the same way.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from lab.images import ImageSet, build_image_set
from lab.registry import BINARY_NAME, HtpasswdAuth, RegistryServer
from tests.support.binaries import require_binary
from tests.support.certs import SelfSigned, make_self_signed
from tests.support.processes import RedisProcess, running
from tests.support.registries import (
    LabRegistry,
    RegistryFactory,
    token_registry_for,
    write_htpasswd,
)
from tests.support.token_issuer import TokenIssuer

__all__ = ["require_binary"]

_INTEGRATION_FIXTURES = frozenset(
    {
        "hostile",  # scripted registries on loopback (tests/hostile)
        "redis_process",
        "redis_server",
        "redis_client",
        "registry_binary",
        "registry_factory",
        "open_registry",
        "basic_registry",
        "token_registry",
        "tls_registry",
    }
)


#: Markers of tests that need something beyond this process and its files.
_NOT_UNIT = frozenset({"integration", "faults", "install"})


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the fixtures used
    defs = info.name2fixturedefs.values() if info else ()
    return any(d.scope == "module" for chain in defs for d in chain)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Keep a module whose tests share a module-scoped fixture on one xdist process.

    With ``--dist loadgroup`` one process then runs the whole module, so its
    module-scoped servers and runs (a seeded registry, a run of image-syncer
    itself) are built once, not once per process. Marked as each item is
    collected: xdist reads the groups in its own ``pytest_collection_modifyitems``.
    """
    if _shares_a_module_fixture(item):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that starts a real server as ``integration``, and every other one ``unit``.

    ``-m unit`` is then exactly the tests that need no server: what
    ``scripts/check`` runs.
    """
    for item in items:
        if _INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        if not _NOT_UNIT.intersection(mark.name for mark in item.iter_markers()):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def registry_binary() -> str:
    """Path of ``docker-registry``; skips (or fails in CI) when it is missing."""
    return require_binary(BINARY_NAME)


@pytest.fixture
def registry_factory(
    registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryFactory]:
    """Start :class:`RegistryServer` instances on demand; all are stopped at teardown."""
    servers: list[RegistryServer] = []

    def start(**kwargs: Any) -> RegistryServer:
        kwargs.setdefault("workdir", tmp_path_factory.mktemp("registry"))
        server = RegistryServer(binary=registry_binary, **kwargs)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    """Self-signed certificate for 127.0.0.1 that the TLS registry serves."""
    return make_self_signed(tmp_path_factory.mktemp("tls"), "registry")


@pytest.fixture(scope="session")
def token_signer(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    """Key and certificate that sign tokens; the certificate is the ``rootcertbundle``."""
    return make_self_signed(tmp_path_factory.mktemp("token"), "token-signer")


@pytest.fixture(scope="session")
def image_set() -> ImageSet:
    """The default seeded image set (seed 0)."""
    return build_image_set(0)


@pytest.fixture
def password() -> str:
    """A fresh password for ``alice``, unique per test."""
    return "pw-" + secrets.token_urlsafe(18)


@pytest.fixture
def open_registry(registry_factory: RegistryFactory) -> LabRegistry:
    """Plain HTTP, no auth."""
    return LabRegistry(registry_factory())


@pytest.fixture
def basic_registry(registry_factory: RegistryFactory, tmp_path: Path, password: str) -> LabRegistry:
    """HTTP Basic auth from an htpasswd file: user ``alice``, password ``.password``."""
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": password})
    server = registry_factory(auth=HtpasswdAuth(str(htpasswd)))
    return LabRegistry(server, username="alice", password=password)


@pytest.fixture
def token_issuer(token_signer: SelfSigned, password: str) -> Iterator[TokenIssuer]:
    """A running token server that knows ``alice``; set ``.expires_in`` before use."""
    with TokenIssuer(token_signer, users={"alice": password}) as issuer:
        yield issuer


@pytest.fixture
def token_registry(
    registry_factory: RegistryFactory,
    token_issuer: TokenIssuer,
    token_signer: SelfSigned,
    password: str,
) -> LabRegistry:
    """Bearer token auth through :class:`TokenIssuer`; ``alice`` may pull and push anything."""
    return token_registry_for(registry_factory, token_issuer, token_signer, password)


@pytest.fixture
def tls_registry(registry_factory: RegistryFactory, tls_cert: SelfSigned) -> LabRegistry:
    """HTTPS with a self-signed certificate; pass ``.verify`` (the cert path) to trust it."""
    server = registry_factory(tls=(str(tls_cert.cert_path), str(tls_cert.key_path)))
    return LabRegistry(server, ca_cert=tls_cert.cert_path)


@pytest.fixture
def source(open_registry: LabRegistry) -> LabRegistry:
    """An empty plain-HTTP registry to seed and copy from."""
    return open_registry


@pytest.fixture
def dest(registry_factory: RegistryFactory) -> LabRegistry:
    """An empty plain-HTTP registry to copy to."""
    return LabRegistry(registry_factory())


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
