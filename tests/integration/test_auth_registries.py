"""Syncing with Basic, Bearer-token and TLS registries, and docker's config.json."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab.images import ImageSet
from tests.support.certs import SelfSigned
from tests.support.embedded import RunSync, seed, sync_config, write_config
from tests.support.registries import LabRegistry, token_registry_for
from tests.support.scenario import insecure
from tests.support.token_issuer import TokenIssuer
from tests.support.verify import RegistryReader, access_log, verify_image

pytestmark = pytest.mark.integration

Reader = Callable[[LabRegistry], RegistryReader]
REFS = ("lab/app0:v1", "lab/app0:v2", "lab/app1:v1", "lab/multi:list")


def _rules(s: str, d: str) -> dict[str, str]:
    return {
        f"{s}/lab/app0": f"{d}/mirror/app0",
        f"{s}/lab/app1:v1": f"{d}/mirror/app1",
        f"{s}/lab/multi:list": f"{d}/mirror/multi",
    }


def _verify_all(dst: RegistryReader, image_set: ImageSet) -> None:
    for ref in REFS:
        repo, tag = ref.split(":")
        verify_image(dst, repo.replace("lab/", "mirror/"), tag, image_set.get(repo, tag).digest)


def _login(registry: LabRegistry, **extra: Any) -> dict[str, Any]:
    return {registry.host: {"username": registry.username, "password": registry.password, **extra}}


def _rules_config(tmp: Path, source: LabRegistry, target: LabRegistry) -> Path:
    """A one-file config: :func:`_rules` from ``source`` to ``target``, both insecure."""
    return sync_config(
        tmp / "config.yaml", _rules(source.host, target.host), source.host, target.host
    )


def test_basic_auth_destination(
    source: LabRegistry,
    basic_registry: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, *REFS)
    auth = {**insecure(source.host), **_login(basic_registry, insecure=True)}
    config = write_config(
        tmp_path / "config.yaml", {"auth": auth, "images": _rules(source.host, basic_registry.host)}
    )

    run = run_sync(config)

    assert run.code == 0, run.err
    _verify_all(reader(basic_registry), image_set)
    assert basic_registry.password and basic_registry.password not in run.err + run.out


@pytest.fixture
def token_source(
    registry_factory: Callable[..., Any],
    token_issuer: TokenIssuer,
    token_signer: SelfSigned,
    password: str,
) -> LabRegistry:
    """A second token-auth registry trusting the same issuer as ``token_registry``."""
    return token_registry_for(registry_factory, token_issuer, token_signer, password)


def _all_requests(registry: LabRegistry) -> int:
    return len(access_log(registry.server))


def test_token_auth_source_and_destination_reuse_tokens(
    token_source: LabRegistry,
    token_registry: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None and token_source.issuer is issuer
    seed(token_source, image_set, *REFS)
    config = write_config(
        tmp_path / "config.yaml",
        {
            "auth": {
                **_login(token_source, insecure=True),
                **_login(token_registry, insecure=True),
            },
            "images": _rules(token_source.host, token_registry.host),
        },
    )
    tokens_before = issuer.count
    requests_before = _all_requests(token_source) + _all_requests(token_registry)

    run = run_sync(config, "--output", "json")

    assert run.code == 0, run.err
    assert run.report["images"]["done"] == 4
    tokens = issuer.count - tokens_before
    registry_requests = (
        _all_requests(token_source) + _all_requests(token_registry) - requests_before
    )
    # One token per scope set and client: 3 source repos, 3 destination repos, and the
    # mount scopes (destination push + source pull) of blobs shared across repos.
    assert 0 < tokens <= 12, tokens
    assert registry_requests >= 5 * tokens, (registry_requests, tokens)
    assert all(r.status == 200 for r in issuer.requests[tokens_before:])
    assert all(r.account == "alice" for r in issuer.requests[tokens_before:])
    _verify_all(reader(token_registry), image_set)
    assert token_registry.password and token_registry.password not in run.err + run.out


@pytest.mark.parametrize("with_docker_config", [True, False])
def test_docker_config_json_supplies_basic_credentials(
    with_docker_config: bool,
    source: LabRegistry,
    basic_registry: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(source, image_set, *REFS)
    if with_docker_config:
        docker = tmp_path / "docker"
        docker.mkdir()
        login = f"{basic_registry.username}:{basic_registry.password}".encode()
        (docker / "config.json").write_text(
            json.dumps({"auths": {basic_registry.host: {"auth": base64.b64encode(login).decode()}}})
        )
        monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    # The auth file only marks the registry insecure: no username, so config.json is asked.
    config = _rules_config(tmp_path, source, basic_registry)

    run = run_sync(config, "--output", "json")

    if with_docker_config:
        assert run.code == 0, run.err
        _verify_all(reader(basic_registry), image_set)
    else:
        assert run.code == 1
        reasons = {f["reason"] for f in run.report["failed"]}
        assert reasons and all("401" in r for r in reasons), reasons


def test_tls_registry_with_insecure_true(
    source: LabRegistry,
    tls_registry: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, *REFS)
    config = _rules_config(tmp_path, source, tls_registry)

    # One thread: catch_warnings in RegistryClient.request races across threads
    # (see test_client_threads.py) and lets InsecureRequestWarning out under -W error.
    run = run_sync(config, "-p", "1")

    assert run.code == 0, run.err
    assert f"{tls_registry.host}: TLS verification disabled" in run.err
    _verify_all(reader(tls_registry), image_set)


def test_tls_registry_with_verification_fails_with_a_tls_error(
    source: LabRegistry,
    tls_registry: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/app1:v1")
    config = sync_config(
        tmp_path / "config.yaml",
        {f"{source.host}/lab/app1:v1": f"{tls_registry.host}/mirror/app1"},
        source.host,
    )

    run = run_sync(config, "--output", "json")

    assert run.code == 1
    (failed,) = run.report["failed"]
    assert "TLS error" in failed["reason"]
    assert "CERTIFICATE_VERIFY_FAILED" in failed["reason"] or "certificate" in failed["reason"]
    assert failed["transient"] is False
