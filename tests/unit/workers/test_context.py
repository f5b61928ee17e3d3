"""A worker's context (workers.context): built once per process, its auth file reloaded."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.errors import ConfigError
from syncer.oci.reference import Repository
from workers import context

pytestmark = pytest.mark.integration

ALICE = {"username": "alice", "password": "pa55-w0rd", "max_connections": 2}
BOB = {"username": "bob", "password": "s3cret-b0b"}


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def auth(tmp_path: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The worker's auth file, looked at again on every call, and a fresh context."""
    path = _write(tmp_path / "auth.json", {"reg.example": ALICE, "reg.example/team": BOB})
    monkeypatch.setenv("SYNCER_AUTH_FILE", str(path))
    monkeypatch.setenv("SYNCER_REDIS_URL", redis_server)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no user docker config
    monkeypatch.setattr(context, "AUTH_RECHECK", 0.0)
    monkeypatch.setattr(context, "_fleet", None)
    yield path
    current = context._fleet
    if current is not None:
        current[1].redis.close()


def test_an_auth_file_is_reloaded_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "auth.json", {"reg.example": ALICE})
    watched = context.AuthFile(path)
    assert watched.entries["reg.example"].username == "alice"
    assert not watched.changed()
    _write(path, {"reg.example": {**ALICE, "username": "bob-the-builder"}})
    os.utime(path, ns=(1, 1))
    assert watched.changed() is False, "looked at once a second at most"
    monkeypatch.setattr(context, "AUTH_RECHECK", 0.0)
    assert watched.changed() is True
    assert watched.entries["reg.example"].username == "bob-the-builder"
    assert context.AuthFile(None).changed() is False


def test_a_gone_auth_file_names_itself_until_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "AUTH_RECHECK", 0.0)
    path = _write(tmp_path / "auth.json", {"reg.example": ALICE})
    watched = context.AuthFile(path)
    path.unlink()
    with pytest.raises(ConfigError, match=r"auth file .*auth.json is gone \(SYNCER_AUTH_FILE\)$"):
        watched.changed()
    _write(path, {"reg.example": ALICE})
    assert watched.changed() is True, "a problem fixed is a change"


def test_one_context_per_process_with_the_files_limits(auth: Path) -> None:
    first = context.fleet()
    assert context.fleet() is first
    assert first.limits == {"reg.example": 2}
    assert first.redis.ping()
    assert context.auth_entries()["reg.example/team"].password == "s3cret-b0b"


def test_an_edited_file_swaps_the_pool_for_the_next_task(auth: Path) -> None:
    first = context.fleet()
    pool = first.pool
    _write(auth, {"reg.example": {**ALICE, "max_connections": 7}, "other.example": ALICE})
    os.utime(auth, ns=(1, 1))
    again = context.fleet()
    assert again is first and again.pool is not pool
    assert again.limits == {"reg.example": 7, "other.example": 2}


def test_without_its_file_every_registry_call_fails_naming_it(auth: Path) -> None:
    context.fleet()
    auth.unlink()
    current = context.fleet()
    with pytest.raises(ConfigError, match="is gone"):
        current.pool.for_repo(Repository.parse("reg.example/team/app"))
    assert current.limits == {} and context.auth_entries() == {}


def test_a_credential_note_names_auth_keys_never_secrets(auth: Path) -> None:
    held = context.credential_note("https://reg.example/v2/team/app/manifests/v1")
    assert held == (
        "this worker has credentials for reg.example (auth keys: reg.example, reg.example/team)"
    )
    assert "alice" not in held and "pa55" not in held and "bob" not in held
    assert context.credential_note("https://else.example/v2/") == (
        "this worker has no credentials for else.example in its auth file"
    )
    assert context.credential_note("") == ""
