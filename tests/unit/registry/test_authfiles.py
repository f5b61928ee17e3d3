"""Login files (podman/skopeo auth.json, docker config.json) and registry-specific logins."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from syncer.oci.reference import Repository
from syncer.registry.authfiles import default_containers_auth, load_auth_file
from syncer.registry.credentials import AuthEntry, Credentials

SECRET = "hunter2-s3cret"


def login(path: Path, auths: dict[str, tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        k: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()} for k, (u, p) in auths.items()
    }
    path.write_text(json.dumps({"auths": data}))
    return path


def test_default_order_follows_containers_image(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/7", "XDG_CONFIG_HOME": "/cfg"}
    assert default_containers_auth(env) == [
        Path("/run/user/7/containers/auth.json"),
        Path("/cfg/containers/auth.json"),
    ]
    assert default_containers_auth({**env, "REGISTRY_AUTH_FILE": "/etc/a.json"})[0] == Path(
        "/etc/a.json"
    )
    fallback = default_containers_auth({"HOME": str(tmp_path)})
    assert fallback[0] == Path(f"/run/containers/{os.getuid()}/auth.json")


def test_first_file_that_knows_the_registry_wins(tmp_path: Path) -> None:
    first = login(tmp_path / "run.json", {"quay.io": ("run", SECRET)})
    second = login(tmp_path / "cfg.json", {"quay.io": ("cfg", SECRET), "ghcr.io": ("g", SECRET)})
    docker = login(tmp_path / "docker.json", {"quay.io": ("docker", SECRET), "x.io": ("x", "y")})
    creds = Credentials({}, docker_config=docker, login_files=[first, second])
    assert creds.lookup(Repository.parse("quay.io/a/b")) == AuthEntry("run", SECRET)
    assert creds.lookup(Repository.parse("ghcr.io/a/b")) == AuthEntry("g", SECRET)
    assert creds.lookup(Repository.parse("x.io/a")) == AuthEntry("x", "y")
    assert creds.lookup(Repository.parse("other.io/a")) is None


def test_namespace_keys_are_most_specific_first(tmp_path: Path) -> None:
    path = login(
        tmp_path / "auth.json",
        {
            "quay.io": ("reg", "p1"),
            "quay.io/team": ("team", "p2"),
            "quay.io/team/app": ("app", "p3"),
        },
    )
    creds = Credentials({}, docker_config=path)
    assert creds.lookup(Repository.parse("quay.io/team/app")) == AuthEntry("app", "p3")
    assert creds.lookup(Repository.parse("quay.io/team/other")) == AuthEntry("team", "p2")
    assert creds.lookup(Repository.parse("quay.io/teamx/app")) == AuthEntry("reg", "p1")


def test_url_keys_name_only_their_host(tmp_path: Path) -> None:
    path = login(tmp_path / "auth.json", {"https://index.docker.io/v1/": ("hub", SECRET)})
    assert load_auth_file(path) is not None
    creds = Credentials({}, docker_config=path)
    assert creds.lookup(Repository.parse("nginx")) == AuthEntry("hub", SECRET)
    assert creds.lookup(Repository.parse("quay.io/nginx")) is None


def test_broken_login_file_is_skipped(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json " + SECRET)
    docker = login(tmp_path / "docker.json", {"quay.io": ("d", "p")})
    creds = Credentials({}, docker_config=docker, login_files=[broken, tmp_path / "absent.json"])
    assert creds.lookup(Repository.parse("quay.io/a")) == AuthEntry("d", "p")


@pytest.mark.parametrize("registry", ["gcr.io", "eu.gcr.io", "europe-docker.pkg.dev"])
def test_google_oauth2_service_account_login(registry: str, tmp_path: Path) -> None:
    """image-syncer's `_oauth2_` + base64 key becomes `_json_key_base64`, which Google takes."""
    key = base64.b64encode(b'{"type": "service_account"}').decode()
    entries = {registry: AuthEntry("_oauth2_", key, max_connections=3)}
    creds = Credentials(entries, docker_config=tmp_path / "none.json")
    found = creds.lookup(Repository.parse(f"{registry}/proj/app"))
    assert found == AuthEntry("_json_key_base64", key, max_connections=3)


def test_oauth2_user_elsewhere_is_left_alone(tmp_path: Path) -> None:
    entries = {"quay.io": AuthEntry("_oauth2_", "pw"), "notgcr.io": AuthEntry("_oauth2_", "pw")}
    creds = Credentials(entries, docker_config=tmp_path / "none.json")
    for name in ("quay.io/a", "notgcr.io/a"):
        assert creds.lookup(Repository.parse(name)) == AuthEntry("_oauth2_", "pw")
