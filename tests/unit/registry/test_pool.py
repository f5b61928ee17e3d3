"""One client per (registry, credential), shared (syncer.registry.pool.ClientPool)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from syncer.errors import ConfigError
from syncer.layout.client import LayoutClient
from syncer.oci.reference import Repository
from syncer.registry.credentials import AuthEntry, Credentials
from syncer.registry.pool import ClientPool
from syncer.registry.throttle import LocalThrottle


def _pool(tmp_path: Path, entries: dict[str, AuthEntry], **kwargs: object) -> ClientPool:
    # An empty docker config and no login files: only the entries given count.
    config = tmp_path / "config.json"
    config.write_text("{}")
    return ClientPool(Credentials(entries, docker_config=config), **kwargs)  # type: ignore[arg-type]


def test_repositories_with_one_credential_share_one_client(tmp_path: Path) -> None:
    pool = _pool(tmp_path, {"reg.io": AuthEntry("alice", "pw")})
    first = pool.for_repo(Repository.parse("reg.io/team/app"))
    assert pool.for_repo(Repository.parse("reg.io/other/base")) is first
    assert first.host == "reg.io"
    assert pool.for_repo(Repository.parse("quay.io/team/app")) is not first


def test_a_path_with_its_own_credential_gets_its_own_client(tmp_path: Path) -> None:
    pool = _pool(
        tmp_path,
        {"reg.io": AuthEntry("alice", "pw"), "reg.io/team": AuthEntry("bob", "pw2")},
    )
    team = pool.for_repo(Repository.parse("reg.io/team/app"))
    other = pool.for_repo(Repository.parse("reg.io/other/app"))
    assert team is not other
    assert pool.for_repo(Repository.parse("reg.io/team/base")) is team


def test_clients_share_the_pools_throttle(tmp_path: Path) -> None:
    throttle = LocalThrottle()
    pool = _pool(tmp_path, {}, throttle=throttle)
    assert pool.for_repo(Repository.parse("reg.io/a/b")).throttle is throttle


def test_an_insecure_registry_is_logged_once_and_not_verified(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool = _pool(tmp_path, {"reg.io": AuthEntry(None, None, insecure=True)})
    with caplog.at_level(logging.WARNING, logger="syncer.registry.pool"):
        client = pool.for_repo(Repository.parse("reg.io/a/b"))
        pool.for_repo(Repository.parse("reg.io/c/d"))
    assert client.insecure
    assert caplog.text.count("TLS verification disabled") == 1


def test_close_forgets_every_client(tmp_path: Path) -> None:
    pool = _pool(tmp_path, {})
    first = pool.for_repo(Repository.parse("reg.io/a/b"))
    pool.close()
    assert pool.for_repo(Repository.parse("reg.io/a/b")) is not first


def test_a_layout_goes_to_the_pools_layouts_and_without_them_is_refused() -> None:
    layout = Repository.parse("oci:/mnt/usb/app")
    with pytest.raises(ConfigError, match="for syncer sync only"):
        ClientPool(Credentials({})).for_repo(layout)
    layouts = LayoutClient()
    assert ClientPool(Credentials({}), layouts=layouts).for_repo(layout) is layouts
