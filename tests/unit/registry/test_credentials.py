"""syncer.registry.credentials: prefixes, docker's config.json, credential helpers."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from syncer.oci.reference import Repository
from syncer.registry.credentials import (
    HUB_SERVER,
    IDENTITY_TOKEN,
    AuthEntry,
    Credentials,
    default_docker_config,
)

SECRET = "hunter2-s3cret"

# Answers like docker-credential-osxkeychain: JSON on a hit, exit 1 with a message on a miss.
HELPER = f"""#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
case "$server" in
  quay.io) echo '{{"ServerURL":"quay.io","Username":"helper-user","Secret":"{SECRET}"}}' ;;
  {HUB_SERVER}) echo '{{"Username":"<token>","Secret":"{SECRET}"}}' ;;
  garbage.io) echo 'not json {SECRET}' ;;
  *) echo "credentials not found in native keychain {SECRET}"; exit 1 ;;
esac
"""


def repo(text: str) -> Repository:
    return Repository.parse(text)


def docker_config(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def no_docker(tmp_path: Path) -> Path:
    """A docker config path that does not exist."""
    return tmp_path / "absent" / "config.json"


@pytest.fixture
def helper_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a real ``docker-credential-test`` executable first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "docker-credential-test"
    script.write_text(HELPER)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    return script


# --- config entries -----------------------------------------------------------------------

A, B, C, H = (AuthEntry(n, n + "-pw") for n in ("a", "b", "c", "hub"))
ENTRIES = {"quay.io": A, "quay.io/coreos": B, "quay.io/coreos/etcd": C, "docker.io/myns": H}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("quay.io/coreos/x", B),
        ("quay.io/coreosx/y", A),
        ("quay.io/coreos/etcd", C),
        ("quay.io/coreos/etcd/sub", C),
        ("quay.io/coreos/etcd-operator", B),
        ("quay.io/other/x", A),
        ("quay.io.evil.com/coreos/x", None),
        ("docker.io/myns/app", H),
        ("myns/app", H),
        ("index.docker.io/myns/app", H),
        ("docker.io/mynsx/app", None),
        ("nginx", None),
    ],
)
def test_longest_prefix_wins_in_any_order(
    no_docker: Path, name: str, expected: AuthEntry | None
) -> None:
    for order in itertools.permutations(ENTRIES.items()):
        creds = Credentials(dict(order), docker_config=no_docker)
        assert creds.lookup(repo(name)) == expected


def test_entry_keys_are_normalised(no_docker: Path) -> None:
    creds = Credentials({"index.docker.io": A, "quay.io/": B}, docker_config=no_docker)
    assert creds.lookup(repo("nginx")) == A
    assert creds.lookup(repo("quay.io/x/y")) == B


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("quay.io", True),
        ("localhost:5000", True),
        ("registry-1.docker.io", True),
        ("docker.io", True),
        ("gcr.io", False),
        ("quay.io.evil.com", False),
        ("not a host", False),
    ],
)
def test_insecure(no_docker: Path, host: str, expected: bool) -> None:
    entries = {
        "quay.io/coreos": AuthEntry(None, None, insecure=True),
        "quay.io": AuthEntry("u", "p"),
        "localhost:5000": AuthEntry(None, None, insecure=True),
        "docker.io/ns": AuthEntry(None, None, insecure=True),
    }
    assert Credentials(entries, docker_config=no_docker).insecure(host) is expected


# --- docker's config.json -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("auths", "name", "expected"),
    [
        ({"quay.io": {"auth": b64("u:p:with:colons")}}, "quay.io/a/b", ("u", "p:with:colons")),
        ({"https://index.docker.io/v1/": {"auth": b64("hu:hp")}}, "nginx", ("hu", "hp")),
        ({"registry-1.docker.io": {"auth": b64("hu:hp")}}, "library/nginx", ("hu", "hp")),
        ({"http://localhost:5000": {"auth": b64("lu:lp")}}, "localhost:5000/x", ("lu", "lp")),
        ({"gcr.io": {"username": "gu", "password": "gp"}}, "gcr.io/p/x", ("gu", "gp")),
        (
            {"gcr.io": {"auth": b64("u:p"), "identitytoken": "tok"}},
            "gcr.io/x",
            (IDENTITY_TOKEN, "tok"),
        ),
        ({"quay.io": {"auth": b64("u:p")}}, "gcr.io/p/x", None),
        ({"quay.io": {"auth": "!!not base64!!"}}, "quay.io/a/b", None),
        ({"quay.io": {"auth": b64("no-colon")}}, "quay.io/a/b", None),
        ({"quay.io": {"auth": b64("u:")}}, "quay.io/a/b", None),
        ({"quay.io": {"auth": ""}}, "quay.io/a/b", None),
        ({"quay.io": {}}, "quay.io/a/b", None),
        ({"quay.io": "u:p"}, "quay.io/a/b", None),
        ({"not a host": {"auth": b64("u:p")}}, "quay.io/a/b", None),
    ],
)
def test_docker_config_auths(
    tmp_path: Path, auths: dict[str, Any], name: str, expected: tuple[str, str] | None
) -> None:
    creds = Credentials({}, docker_config=docker_config(tmp_path, {"auths": auths}))
    found = creds.lookup(repo(name))
    assert (found and (found.username, found.password)) == expected


@pytest.mark.parametrize(
    "key",
    [
        "https://evil.example/quay.io",  # the path is not the host
        "https://quay.io.evil.example",
        "quay.io:8443",  # another port is another registry
        "https://alice@quay.io",  # user info is not a host
        "evil.example/quay.io",
    ],
)
def test_a_docker_credential_serves_only_the_host_its_key_names(tmp_path: Path, key: str) -> None:
    config = docker_config(tmp_path, {"auths": {key: {"auth": b64("u:p")}}})
    assert Credentials({}, docker_config=config).lookup(repo("quay.io/a/b")) is None


@pytest.mark.parametrize("name", ["quay.io:8443/coreos/x", "quay.io.evil.com/x", "evil.io/quay.io"])
def test_a_config_entry_serves_only_its_own_host_and_port(no_docker: Path, name: str) -> None:
    assert Credentials({"quay.io": A}, docker_config=no_docker).lookup(repo(name)) is None


@pytest.mark.parametrize("content", ["{not json", "[]", '{"auths": []}', ""])
def test_broken_docker_config_means_anonymous(tmp_path: Path, content: str) -> None:
    creds = Credentials({}, docker_config=docker_config(tmp_path, content))
    assert creds.lookup(repo("quay.io/a/b")) is None


def test_docker_config_that_is_a_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "config.json").mkdir()
    with caplog.at_level(logging.WARNING, logger="syncer.registry.authfiles"):
        assert Credentials({}, docker_config=tmp_path / "config.json").lookup(repo("a/b")) is None
    assert "ignoring unreadable login file (IsADirectoryError)" in caplog.text


def test_config_entry_beats_docker_config(tmp_path: Path) -> None:
    path = docker_config(tmp_path, {"auths": {"quay.io": {"auth": b64("du:dp")}}})
    creds = Credentials({"quay.io": A}, docker_config=path)
    assert creds.lookup(repo("quay.io/x/y")) == A


def test_entry_without_username_borrows_docker_credentials(tmp_path: Path) -> None:
    path = docker_config(tmp_path, {"auths": {"quay.io": {"auth": b64("du:dp")}}})
    entries = {
        "quay.io": AuthEntry(None, None, insecure=True, max_connections=2),
        "localhost:5000": AuthEntry(None, None, insecure=True),
    }
    creds = Credentials(entries, docker_config=path)
    assert creds.lookup(repo("quay.io/x/y")) == AuthEntry("du", "dp", True, 2)
    assert creds.lookup(repo("localhost:5000/x")) == AuthEntry(None, None, insecure=True)


def test_docker_credentials_carry_the_insecure_flag(tmp_path: Path) -> None:
    path = docker_config(tmp_path, {"auths": {"quay.io": {"auth": b64("du:dp")}}})
    creds = Credentials({"quay.io/other": AuthEntry(None, None, True)}, docker_config=path)
    assert creds.lookup(repo("quay.io/x/y")) == AuthEntry("du", "dp", insecure=True)


def test_default_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_docker_config({"DOCKER_CONFIG": "/etc/dc"}) == Path("/etc/dc/config.json")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_docker_config({}) == tmp_path / ".docker" / "config.json"
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    assert default_docker_config() == tmp_path / ".docker" / "config.json"
    path = docker_config(tmp_path, {"auths": {"quay.io": {"auth": b64("eu:ep")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(path.parent))
    assert Credentials({}).lookup(repo("quay.io/a")) == AuthEntry("eu", "ep")


# --- credential helpers -------------------------------------------------------------------


@pytest.mark.usefixtures("helper_on_path")
@pytest.mark.parametrize(
    ("config", "name", "expected"),
    [
        ({"credHelpers": {"quay.io": "test"}}, "quay.io/a/b", ("helper-user", SECRET)),
        ({"credHelpers": {"docker.io": "test"}}, "nginx", (IDENTITY_TOKEN, SECRET)),
        (
            {"credHelpers": {"https://index.docker.io/v1/": "test"}},
            "nginx",
            (IDENTITY_TOKEN, SECRET),
        ),
        ({"credsStore": "test"}, "quay.io/a/b", ("helper-user", SECRET)),
        ({"credsStore": "test"}, "nginx", (IDENTITY_TOKEN, SECRET)),
        ({"credsStore": "test"}, "gcr.io/a/b", None),
        ({"credsStore": "test"}, "garbage.io/a/b", None),
        ({"credHelpers": {"quay.io": "missing"}}, "quay.io/a/b", None),
        (
            {"credHelpers": {"quay.io": "test"}, "auths": {"quay.io": {"auth": b64("f:p")}}},
            "quay.io/a",
            ("helper-user", SECRET),
        ),
        (
            {"credsStore": "test", "auths": {"quay.io": {"auth": b64("f:p")}}},
            "quay.io/a",
            ("f", "p"),
        ),
        ({"credsStore": "test", "auths": {"quay.io": {}}}, "quay.io/a", ("helper-user", SECRET)),
        ({"credHelpers": {"gcr.io": "test"}}, "quay.io/a/b", None),
    ],
)
def test_credential_helpers(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    config: dict[str, Any],
    name: str,
    expected: tuple[str, str] | None,
) -> None:
    creds = Credentials({}, docker_config=docker_config(tmp_path, config))
    with caplog.at_level(logging.DEBUG):
        found = creds.lookup(repo(name))
    assert (found and (found.username, found.password)) == expected
    assert SECRET not in caplog.text


def test_helper_failures_are_logged_without_secrets(
    tmp_path: Path, helper_on_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = docker_config(tmp_path, {"credHelpers": {"gcr.io": "test", "ghcr.io": "missing"}})
    creds = Credentials({}, docker_config=path)
    with caplog.at_level(logging.DEBUG, logger="syncer.registry.credentials"):
        assert creds.lookup(repo("gcr.io/a/b")) is None
        assert creds.lookup(repo("ghcr.io/a/b")) is None
    assert (
        "docker-credential-test for gcr.io failed (CalledProcessError, 1): anonymous" in caplog.text
    )
    assert "docker-credential-missing for ghcr.io failed (FileNotFoundError, None)" in caplog.text
    assert SECRET not in caplog.text


def test_injected_runner_is_asked_once_per_registry(tmp_path: Path) -> None:
    calls: list[tuple[list[str], str]] = []

    def runner(argv: Sequence[str], stdin: str) -> str:
        calls.append((list(argv), stdin))
        return json.dumps({"Username": "ru", "Secret": "rs"})

    creds = Credentials(
        {}, docker_config=docker_config(tmp_path, {"credsStore": "x"}), runner=runner
    )
    for name in ("quay.io/a", "quay.io/b", "nginx", "busybox"):
        assert creds.lookup(repo(name)) == AuthEntry("ru", "rs")
    assert calls == [
        (["docker-credential-x", "get"], "quay.io"),
        (["docker-credential-x", "get"], HUB_SERVER),
    ]


@pytest.mark.parametrize(
    "outcome",
    [
        subprocess.TimeoutExpired(["docker-credential-x"], 30, output=SECRET),
        subprocess.CalledProcessError(1, ["docker-credential-x"], output=SECRET, stderr=SECRET),
        PermissionError(13, "Permission denied"),
        json.dumps({"Username": "u"}),
        json.dumps({"Username": "", "Secret": SECRET}),
        json.dumps([SECRET]),
    ],
)
def test_runner_failures_mean_anonymous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, outcome: Exception | str
) -> None:
    def runner(argv: Sequence[str], stdin: str) -> str:
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    creds = Credentials(
        {}, docker_config=docker_config(tmp_path, {"credsStore": "x"}), runner=runner
    )
    with caplog.at_level(logging.DEBUG, logger="syncer.registry.credentials"):
        assert creds.lookup(repo("quay.io/a")) is None
    assert "anonymous" in caplog.text
    assert SECRET not in caplog.text


def test_helper_credentials_never_show_in_repr(tmp_path: Path, helper_on_path: Path) -> None:
    creds = Credentials({}, docker_config=docker_config(tmp_path, {"credsStore": "test"}))
    found = creds.lookup(repo("quay.io/a"))
    assert found is not None and found.password == SECRET
    assert SECRET not in repr(found)
