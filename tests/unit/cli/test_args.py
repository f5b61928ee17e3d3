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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("12", 12),
        ("0", 0),
        ("-3", -3),
        ("+2", 2),
        ("0x1f", 31),
        ("0X10", 16),
        ("0o17", 15),
        ("017", 15),  # Go's octal; Python would refuse it
        ("-010", -8),
        ("0b101", 5),
        ("1_000", 1000),
        ("00", 0),
    ],
)
def test_go_int_reads_what_pflag_reads(text: str, value: int) -> None:
    """image-syncer's -p/-r go through Go's strconv.ParseInt with base 0 (cmd/image-syncer.go)."""
    assert args.go_int(text) == value


@pytest.mark.parametrize("text", ["x", "1.5", "", " 1", "09", "1__0", "0x", str(1 << 63)])
def test_go_int_refuses_what_pflag_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        args.go_int(text)


@pytest.mark.parametrize(
    ("argv", "proc", "retries"),
    [
        (["-p", "0"], 1, 2),
        (["-p", "-4", "-r", "-1"], 1, 0),
        (["-p", "3", "-r", "0"], 3, 0),
        (["-p", "1_000_000_000", "-r", "99"], 1000, 99),
    ],
)
def test_counts_out_of_range_run_with_the_nearest_and_warn(
    argv: list[str], proc: int, retries: int, caplog: pytest.LogCaptureFixture
) -> None:
    """image-syncer copies with -p 0 and -r -1; so does syncer, with 1 and 0."""
    options = args.sync_options(_parse("--images", "i", *argv))
    assert (options.proc, options.retries) == (proc, retries)
    assert ("below" in caplog.text or "above" in caplog.text) is (argv[1] != "3")


@pytest.mark.parametrize(
    ("word", "fmt", "warns"),
    [
        ("json", "json", False),
        ("JSON", "json", False),
        ("Yaml", "yaml", False),
        ("yml", "yaml", False),
    ]
    + [("xml", "yaml", True), ("", "yaml", True)],
)
def test_images_format_never_stops_the_run(
    word: str, fmt: str, warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO"):
        assert args.images_format(word) == fmt
    assert ("writing YAML" in caplog.text and "WARNING" in caplog.text) is warns


def test_strict_turns_abbreviations_off_in_every_subcommand() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    args.add_config_arguments(sub.add_parser("sync"))
    args.strict(parser)
    assert parser.parse_args(["sync", "--images", "i"]).images == Path("i")
    with pytest.raises(SystemExit):
        parser.parse_args(["sync", "--ima", "i"])


def test_a_config_word_beside_config_flags_is_stray() -> None:
    parsed = _parse("--images", "i.yaml", "arm64")
    assert args.stray_words(parsed, ["x"]) == ["arm64", "x"]
    assert parsed.config_file is None
    alone = _parse("c.yaml")
    assert args.stray_words(alone, []) == [] and alone.config_file == Path("c.yaml")


def test_an_empty_log_word_means_stderr() -> None:
    assert args.log_path("") is None and args.log_path("x.log") == Path("x.log")


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
