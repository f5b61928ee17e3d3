"""RegistryServer and the four registry fixtures, against the real distribution binary."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from lab.images import sha256
from lab.registry import (
    BINARY_ENV,
    LabError,
    RegistryServer,
    TokenAuth,
    find_registry_binary,
)
from tests.support.registries import LabRegistry
from tests.support.token_issuer import TokenIssuer

BLOB = b"hello from the syncer lab\n"


def _token(registry: LabRegistry, *scopes: str, auth: tuple[str, str] | None = None) -> str:
    assert registry.issuer is not None
    params = {"service": registry.issuer.service, "scope": list(scopes)}
    resp = requests.get(registry.issuer.realm, params=params, auth=auth or registry.auth)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == registry.issuer.expires_in and body["issued_at"]
    return str(body["token"])


def _push_blob(url: str, repo: str, headers: dict[str, str]) -> requests.Response:
    with requests.Session() as session:
        start = session.post(f"{url}/v2/{repo}/blobs/uploads/", headers=headers)
        if start.status_code != 202:
            return start
        location = urljoin(start.url, start.headers["Location"])
        return session.put(location, params={"digest": sha256(BLOB)}, data=BLOB, headers=headers)


def test_open_registry_serves_v2(open_registry: LabRegistry) -> None:
    resp = requests.get(f"{open_registry.url}/v2/")
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert open_registry.host == f"127.0.0.1:{open_registry.server.port}"
    assert open_registry.url == f"http://{open_registry.host}"


def test_wipe_empties_storage_and_keeps_the_port(open_registry: LabRegistry) -> None:
    server = open_registry.server
    assert _push_blob(server.url, "lab/wipe", {}).status_code == 201
    blob_url = f"{server.url}/v2/lab/wipe/blobs/{sha256(BLOB)}"
    assert requests.head(blob_url).status_code == 200
    port = server.port
    server.wipe()
    assert server.port == port and server.running
    assert requests.head(blob_url).status_code == 404
    assert server.count_requests("HEAD", "/blobs/") == 2
    assert server.count_requests("PUT", "/blobs/uploads/") == 1


def test_context_manager_removes_its_own_workdir(registry_binary: str) -> None:
    with RegistryServer(binary=registry_binary) as server:
        assert requests.get(f"{server.url}/v2/").ok
        workdir = server.workdir
        assert "storage" in server.config()["storage"]["filesystem"]["rootdirectory"]
    assert not server.running and not workdir.exists()


def test_a_registry_that_dies_reports_its_log(registry_binary: str, tmp_path: Path) -> None:
    auth = TokenAuth("http://127.0.0.1:9/token", "svc", "iss", str(tmp_path / "missing.pem"))
    server = RegistryServer(auth=auth, workdir=tmp_path, binary=registry_binary)
    with pytest.raises(LabError, match="exited") as info:
        server.start()
    assert "missing.pem" in str(info.value)
    assert not server.running


def test_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BINARY_ENV, str(tmp_path / "no-such-registry"))
    assert find_registry_binary() is None
    with pytest.raises(LabError, match="not found"):
        RegistryServer(workdir=tmp_path).start()


def test_basic_registry_needs_alice(basic_registry: LabRegistry) -> None:
    url = basic_registry.url
    anonymous = requests.get(f"{url}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert requests.get(f"{url}/v2/", auth=("alice", "wrong")).status_code == 401
    assert requests.get(f"{url}/v2/", auth=basic_registry.auth).status_code == 200
    assert _push_blob(url, "lab/basic", {}).status_code == 401
    creds = base64.b64encode(f"alice:{basic_registry.password}".encode()).decode()
    assert _push_blob(url, "lab/basic", {"Authorization": f"Basic {creds}"}).status_code == 201


def test_token_registry_challenges_then_accepts_a_token(token_registry: LabRegistry) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    anonymous = requests.get(f"{token_registry.url}/v2/")
    assert anonymous.status_code == 401
    challenge = anonymous.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{issuer.realm}",service="{issuer.service}"')
    token = _token(token_registry)
    resp = requests.get(f"{token_registry.url}/v2/", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and len(header["x5c"]) == 1


def test_token_scopes_limit_what_a_token_may_do(token_registry: LabRegistry) -> None:
    url = token_registry.url
    pull_only = {"Authorization": f"Bearer {_token(token_registry, 'repository:lab/t:pull')}"}
    assert _push_blob(url, "lab/t", pull_only).status_code == 401
    both = _token(token_registry, "repository:lab/t:pull,push", "registry:catalog:*")
    headers = {"Authorization": f"Bearer {both}"}
    assert _push_blob(url, "lab/t", headers).status_code == 201
    assert _push_blob(url, "lab/other", headers).status_code == 401
    catalog = requests.get(f"{url}/v2/_catalog", headers=headers)
    assert catalog.json() == {"repositories": ["lab/t"]}


def test_token_issuer_checks_credentials_and_counts(token_registry: LabRegistry) -> None:
    issuer = token_registry.issuer
    assert isinstance(issuer, TokenIssuer)
    wrong = requests.get(issuer.realm, params={"service": issuer.service}, auth=("alice", "x"))
    assert wrong.status_code == 401
    anonymous = requests.get(
        issuer.realm, params={"service": issuer.service, "scope": "repository:lab/t:pull"}
    )
    payload = json.loads(base64.urlsafe_b64decode(anonymous.json()["token"].split(".")[1] + "=="))
    assert payload["sub"] == "" and payload["access"][0]["actions"] == []
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": token_registry.password,
        "service": issuer.service,
        "scope": "repository:lab/t:pull registry:catalog:*",
    }
    posted = requests.post(issuer.realm, data=form)
    assert posted.status_code == 200 and "access_token" in posted.json()
    assert issuer.count == 3
    assert [r.status for r in issuer.requests] == [401, 200, 200]


@pytest.mark.parametrize(("expires_in", "status"), [(-30, 200), (-120, 401)])
def test_registry_honours_expiry_with_a_minute_of_leeway(
    token_registry: LabRegistry, expires_in: int, status: int
) -> None:
    assert token_registry.issuer is not None
    token_registry.issuer.expires_in = expires_in
    headers = {"Authorization": f"Bearer {_token(token_registry)}"}
    assert requests.get(f"{token_registry.url}/v2/", headers=headers).status_code == status


def test_tls_registry_needs_its_certificate(tls_registry: LabRegistry) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert requests.get(f"{tls_registry.url}/v2/", verify=tls_registry.verify).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_registry.url}/v2/")
