"""The flags sync, plan and image-syncer share, and the config and options they build."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from syncer.cli import args
from syncer.config import files
from syncer.config.files import SyncConfig
from syncer.errors import ConfigError


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    args.add_config_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("12", 12)])
def test_positive_accepts_whole_numbers_from_one(text: str, value: int) -> None:
    assert args.positive(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "x", "1.5", ""])
def test_positive_refuses_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        args.positive(text)


@pytest.mark.parametrize("text", ["-1", "x", "2.0", " 1"])
def test_non_negative_refuses_what_is_not_a_count(text: str) -> None:
    assert args.non_negative("0") == 0
    with pytest.raises(argparse.ArgumentTypeError):
        args.non_negative(text)


def test_config_flags_default_as_image_syncer_does() -> None:
    parsed = _parse("--images", "i.yaml")
    assert (parsed.proc, parsed.retries, parsed.force, parsed.dry_run) == (5, 2, False, False)
    assert (parsed.os, parsed.arch, parsed.config_file, parsed.images) == (
        [],
        [],
        None,
        Path("i.yaml"),
    )


def test_load_without_a_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no config"):
        args.load(_parse("--auth", "a.yaml"))


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``load`` handed to ``load_config``."""
    seen: dict[str, Any] = {}

    def load_config(*files: Path | None, **kwargs: str | None) -> SyncConfig:
        seen.update(files=files, **kwargs)
        return SyncConfig(auth={}, rules=(), limits={})

    monkeypatch.setattr(files, "load_config", load_config)  # args.load imports it when called
    monkeypatch.setenv("DEFAULT_REGISTRY", "env.example")
    monkeypatch.setenv("DEFAULT_NAMESPACE", "")
    return seen


def test_load_passes_the_files_and_flags_beat_the_environment(loaded: dict[str, Any]) -> None:
    args.load(_parse("c.yaml", "--registry", "flag.example"))
    assert loaded["files"] == (Path("c.yaml"), None, None)
    assert (loaded["default_registry"], loaded["default_namespace"]) == ("flag.example", None)
    args.load(_parse("--auth", "a.yaml", "--images", "i.yaml"))
    assert loaded["files"] == (None, Path("a.yaml"), Path("i.yaml"))
    assert loaded["default_registry"] == "env.example"


def test_sync_options_carry_the_flags() -> None:
    options = args.sync_options(
        _parse("--images", "i", "-p", "3", "-r", "0", "--force", "--arch", "amd64,arm64:v8")
    )
    assert (options.proc, options.retries, options.force) == (3, 0, True)
    assert options.platforms.archs == ("amd64", "arm64:v8")


def test_sync_options_refuse_a_variant_that_is_not_a_tag() -> None:
    with pytest.raises(ConfigError):
        args.sync_options(_parse("--images", "i", "--arch", "arm64:v8/../x"))
