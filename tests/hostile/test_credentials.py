"""Credentials go only to the origin they belong to, and writes follow no redirect.

Each test runs the real CLI against scripted registries on loopback, with an
auth file holding a username and password, and asserts who saw the password,
what the destination holds afterwards, the exit code, and bounds on time and
memory.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.certs import SelfSigned
from tests.support.hostile import (
    DOCKER_MANIFEST,
    HostileRegistry,
    Pool,
    Reply,
    make_image,
    tls_context,
)
from tests.support.hostile_kit import write_images
from tests.support.runner import Outcome, run_syncer

PASSWORD = "s3cret-hostile-pw"
BASIC = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
#: A failed sync of one small image takes well under this (no retries of permanent errors).
TIME_BOUND = 30.0
MEMORY_BOUND_MIB = 250.0


def _auth(*hosts: str) -> dict[str, Any]:
    return {host: {"username": "alice", "password": PASSWORD} for host in hosts}


def _token_service(server: HostileRegistry) -> None:
    """A realm that would hand a token to anyone (so a leak would go unnoticed by syncer)."""
    server.route(
        "*", r"^/token$", lambda r: r.send_json(200, {"token": "stolen", "expires_in": 300})
    )


def _leaked(server: HostileRegistry) -> list[str]:
    """Every place the password reached ``server``, in any header (Basic-encoded or not)."""
    return [
        f"{s.method} {s.path} {name}"
        for s in server.seen
        for name, value in s.headers.items()
        if name.lower() == "authorization" or PASSWORD in value or BASIC.split()[1] in value
    ]


def _nothing_committed(dst: Any, repo: str = "mirror/app", tag: str = "v1") -> bool:
    got = requests.get(
        f"{dst.url}/v2/{repo}/manifests/{tag}", headers={"Accept": DOCKER_MANIFEST}, timeout=5
    )
    return got.status_code == 404


def _assert_failed_in_bounds(outcome: Outcome) -> None:
    assert outcome.code != 0 and not outcome.killed, outcome.text
    assert outcome.elapsed < TIME_BOUND, outcome.elapsed
    assert outcome.peak_rss_mib < MEMORY_BOUND_MIB, outcome.peak_rss_mib
    assert PASSWORD not in outcome.text and BASIC.split()[1] not in outcome.text


def _basic_only(r: Reply) -> None:
    """``GET /v2/`` of a registry that wants Basic auth."""
    if r.headers.get("Authorization") == BASIC:
        r.send_json(200, {})
    else:
        r.send_json(401, {}, {"WWW-Authenticate": 'Basic realm="source"'})


def _to_fresh_dest(
    src: HostileRegistry, registry_factory: Callable[..., Any], tmp: Path
) -> tuple[Any, list[str]]:
    """A new real destination, and the arguments copying ``lab/app:v1`` to it with src's login."""
    dst = registry_factory()
    return dst, write_images(
        tmp, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"}, _auth(src.host)
    )


@pytest.mark.integration
def test_a_401_from_a_redirect_target_never_sends_the_password_to_its_realm(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src, cdn, realm = hostile(), hostile(), hostile()
    src.serve_image("lab/app", "v1", make_image("redirected"))
    src.route("GET", r"^/v2/$", _basic_only)
    src.route(
        "GET",
        r"^/v2/lab/app/blobs/",
        lambda r: r.send(307, headers={"Location": f"{cdn.url}/storage{r.path}"}),
    )
    challenge = f'Bearer realm="{realm.url}/token",service="cdn"'
    cdn.route("*", r"", lambda r: r.send_json(401, {}, {"WWW-Authenticate": challenge}))
    _token_service(realm)
    dst, args = _to_fresh_dest(src, registry_factory, tmp_path)

    outcome = run_syncer(["sync", *args, "--cache", "none"], env=env, deadline=60)

    _assert_failed_in_bounds(outcome)
    assert realm.seen == [], "the foreign realm was asked for a token"
    assert _leaked(cdn) == [] and cdn.requests("GET", "/storage/"), "the redirect was followed"
    assert src.requests("GET", "/blobs/")[0].headers.get("Authorization") == BASIC
    assert cdn.host in outcome.text
    assert _nothing_committed(dst)


@pytest.mark.integration
def test_an_https_registry_with_an_http_realm_gets_no_credentials(
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
    tls_cert: SelfSigned,
) -> None:
    src = hostile(tls=tls_context(tls_cert.cert_path, tls_cert.key_path))
    realm = hostile()
    src.serve_image("lab/app", "v1", make_image("tls"))
    challenge = f'Bearer realm="{realm.url}/token",service="src"'
    src.route("GET", r"^/v2/$", lambda r: r.send_json(401, {}, {"WWW-Authenticate": challenge}))
    _token_service(realm)
    dst, args = _to_fresh_dest(src, registry_factory, tmp_path)
    env = {**env, "REQUESTS_CA_BUNDLE": str(tls_cert.cert_path)}

    outcome = run_syncer(["sync", *args, "--cache", "none"], env=env, deadline=60)

    _assert_failed_in_bounds(outcome)
    assert src.requests("GET", "/v2/"), "syncer spoke TLS to the source"
    assert realm.seen == [], "the plain-http realm was contacted"
    assert "plain http" in outcome.text
    assert _nothing_committed(dst)


def test_a_destination_that_redirects_the_manifest_put_loses_nothing_to_the_other_host(
    hostile: Pool, env: dict[str, str], tmp_path: Path
) -> None:
    src, dst, other = hostile(), hostile(), hostile()
    src.serve_image("lab/app", "v1", make_image("put"))
    dst.route("GET", r"^/v2/$", _basic_only)
    dst.route("HEAD", r"^/v2/mirror/app/blobs/", lambda r: r.send(200))
    dst.route(
        "PUT",
        r"^/v2/mirror/app/manifests/",
        lambda r: r.send(301, headers={"Location": f"{other.url}{r.path}"}),
    )
    other.route("*", r"", lambda r: r.send(201))
    args = write_images(
        tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"}, _auth(src.host, dst.host)
    )

    outcome = run_syncer(["sync", *args, "--cache", "none"], env=env, deadline=60)

    _assert_failed_in_bounds(outcome)
    assert other.seen == [], "the PUT was followed to the other host"
    (put,) = dst.requests("PUT", "/manifests/")
    assert put.headers.get("Authorization") == BASIC
    assert "301" in outcome.text and other.host in outcome.text
