"""Where the Redis URL comes from: --redis, SYNCER_REDIS_URL, then SYNCER_REDIS_URL_FILE."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import defaults
from syncer.errors import ConfigError
from tests.support.processes import fleet_env, run_cli


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCER_REDIS_URL", raising=False)
    monkeypatch.delenv("SYNCER_REDIS_URL_FILE", raising=False)


def test_a_file_keeps_the_password_out_of_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "redis-url"
    secret.write_text("rediss://:pw@redis.internal:6380/2\n")
    monkeypatch.setenv("SYNCER_REDIS_URL_FILE", str(secret))
    assert defaults.redis_url() == "rediss://:pw@redis.internal:6380/2"
    monkeypatch.setenv("SYNCER_REDIS_URL", "redis://env:6379/0")
    assert defaults.redis_url() == "redis://env:6379/0"
    assert defaults.redis_url("redis://flag:6379/0") == "redis://flag:6379/0"


def test_without_any_setting_the_local_default() -> None:
    assert defaults.redis_url() == defaults.REDIS_URL


@pytest.mark.parametrize("content", [None, "  \n"], ids=["missing", "empty"])
def test_an_unusable_file_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None
) -> None:
    path = tmp_path / "redis-url"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("SYNCER_REDIS_URL_FILE", str(path))
    with pytest.raises(ConfigError, match=r"^SYNCER_REDIS_URL_FILE .*redis-url: "):
        defaults.redis_url()


@pytest.mark.integration
def test_the_cli_reaches_redis_through_the_file(redis_server: str, fleet_home: Path) -> None:
    secret = fleet_home / "redis-url"
    secret.write_text(redis_server + "\n")
    env = fleet_env(redis_server, fleet_home)
    del env["SYNCER_REDIS_URL"]
    env["SYNCER_REDIS_URL_FILE"] = str(secret)
    run = run_cli(["status", "no-such-plan"], env, timeout=30)
    # Connected (else "cannot reach Redis"): the plan is simply not there.
    assert run.code == 2 and "plan 'no-such-plan' not found" in run.err, run
    env["SYNCER_REDIS_URL_FILE"] = str(fleet_home / "missing")
    run = run_cli(["status", "no-such-plan"], env, timeout=30)
    assert run.code == 2 and run.err.startswith("syncer: error: SYNCER_REDIS_URL_FILE "), run
