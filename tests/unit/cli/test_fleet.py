"""``syncer plan``, ``status``, ``cancel`` and ``worker``: what they do before Redis or Celery."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

import syncer.cli.supervise
from syncer.cli import fleet, redisargs
from syncer.config.files import SyncConfig
from syncer.config.ruleparse import parse_rule
from syncer.config.rules import BrokenRule
from syncer.errors import ConfigError
from syncer.fleet import planner


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    fleet.add_fleet_parsers(parser.add_subparsers())
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@h:6379/0", "redis://***@h:6379/0"),
        ("rediss://user:s3cret@h/1", "rediss://***@h/1"),
        ("user:s3cret@h:6379", "***@h:6379"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_urls_in_messages_never_show_the_password(url: str, shown: str) -> None:
    assert redisargs.safe_url(url) == shown


def test_a_bad_redis_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as error:
        redisargs.connect("http://:s3cret@h:6379/0")
    assert "unknown scheme 'http'" in str(error.value) and "s3cret" not in str(error.value)


@pytest.mark.parametrize(
    ("broken", "code"), [((BrokenRule("s/x", ("d/x",), "bad rule"),), 1), ((), 0)]
)
def test_plan_dry_run_previews_without_redis_and_exits_as_the_plan_would(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    broken: tuple[BrokenRule, ...],
    code: int,
) -> None:
    """A broken entry fails its images in the plan (exit 1 with --wait): so does the dry run."""
    config = SyncConfig(auth={}, rules=(), limits={}, broken=broken)
    monkeypatch.setattr(fleet, "load", lambda args: config)
    monkeypatch.setattr(fleet, "connect", lambda url: pytest.fail("dry run reached Redis"))
    args = _parse("plan", "--images", "i.yaml", "--dry-run", "--redis", "redis://nowhere:1/0")
    assert fleet.cmd_plan(args) == code
    out = capsys.readouterr().out
    assert out == planner.preview(config).render() + "\n"
    assert ("bad rule" in out) == bool(broken)


@pytest.fixture
def supervised(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Sequence[str], Mapping[str, str]]]:
    """The worker commands that would have been started."""
    started: list[tuple[Sequence[str], Mapping[str, str]]] = []

    def supervise(argv: Sequence[str], env: Mapping[str, str]) -> int:
        started.append((argv, env))
        return 0

    monkeypatch.setattr(syncer.cli.supervise, "supervise", supervise)
    monkeypatch.delenv("SYNCER_AUTH_FILE", raising=False)
    return started


def test_worker_runs_celery_with_threads_and_its_settings(
    supervised: list[tuple[Sequence[str], Mapping[str, str]]], tmp_path: Path
) -> None:
    auth = tmp_path / "auth.yaml"
    auth.write_text("registry.example:\n  username: u\n  password: p\n")
    args = _parse(
        "worker", "--redis", "redis://h:6379/2", "--auth", str(auth), "-p", "7", "-n", "w1"
    )
    assert fleet.cmd_worker(args) == 0
    [(argv, env)] = supervised
    assert argv[1:6] == ["-m", "celery", "-A", "workers.app", "worker"]
    assert ["--concurrency", "7"] == argv[argv.index("--concurrency") :][:2]
    assert ["--pool", "threads"] == argv[argv.index("--pool") :][:2]
    assert argv[-2:] == ["--hostname", "w1"]
    assert env["SYNCER_WORKER_CONCURRENCY"] == "7" and env["SYNCER_REDIS_URL"] == "redis://h:6379/2"
    assert env["SYNCER_AUTH_FILE"] == str(auth)


def test_worker_refuses_to_start_without_readable_credentials(
    supervised: list[tuple[Sequence[str], Mapping[str, str]]], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="worker auth file"):
        fleet.cmd_worker(_parse("worker", "--auth", str(tmp_path / "missing.yaml")))
    assert supervised == []


def test_worker_refuses_a_bad_redis_url_before_starting(
    supervised: list[tuple[Sequence[str], Mapping[str, str]]],
) -> None:
    with pytest.raises(ConfigError, match="no scheme"):
        fleet.cmd_worker(_parse("worker", "--redis", "h:6379"))
    assert supervised == []


def test_plan_refuses_a_rule_that_names_a_layout_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = SyncConfig(
        auth={}, rules=(parse_rule("quay.io/a/b", "oci:/mnt/usb/a/b", environ={}),), limits={}
    )
    monkeypatch.setattr(fleet, "load", lambda args: config)
    monkeypatch.setattr(fleet, "connect", lambda url: pytest.fail("reached Redis"))
    args = _parse("plan", "--images", "i.yaml", "--redis", "redis://nowhere:1/0")

    with pytest.raises(ConfigError) as err:
        fleet.cmd_plan(args)

    assert str(err.value) == (
        'images["quay.io/a/b"]: oci:/mnt/usb/a/b: OCI image layouts and archives are for '
        "syncer sync; the fleet does not read or write them"
    )
