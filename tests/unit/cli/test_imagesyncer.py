"""The ``image-syncer`` console script (syncer.cli.imagesyncer): image-syncer's flags, exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.cli import imagesyncer, sync


def test_console_script_defaults_match_image_syncer() -> None:
    args = imagesyncer.build_parser().parse_args(["--images", "i.yaml"])
    assert (args.proc, args.retries, args.force, args.output_images_format) == (5, 2, False, "yaml")
    assert (args.os, args.arch, args.log, args.output_success_images) == ([], [], None, None)
    assert args.output == "none" and args.func is sync.cmd_sync
    assert (args.since, args.record) == (None, None)  # cmd_sync reads syncer's layout flags


@pytest.mark.parametrize(("word", "value"), [("true", True), ("T", True), ("0", False)])
def test_console_script_force_takes_go_booleans(word: str, value: bool) -> None:
    assert imagesyncer.build_parser().parse_args([f"--force={word}"]).force is value


def test_console_script_rejects_stray_words() -> None:
    with pytest.raises(SystemExit) as exit_:
        imagesyncer.main(["--arch", "amd64", "arm64"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("word", ["yes", "2", ""])
def test_force_refuses_what_go_would_not_parse(
    word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        imagesyncer.build_parser().parse_args([f"--force={word}"])
    assert exit_.value.code == 2
    assert "is not true or false" in capsys.readouterr().err


def test_flags_take_image_syncers_spellings_and_repeat() -> None:
    args = imagesyncer.build_parser().parse_args(
        ["--auth", "a.yaml", "--images", "i.yaml", "-p", "9", "-r", "0", "--force"]
        + ["--os", "linux", "--arch", "amd64", "--arch", "arm64", "--output-images-format", "json"]
    )
    assert (args.auth, args.images) == (Path("a.yaml"), Path("i.yaml"))
    assert (args.proc, args.retries, args.force) == (9, 0, True)
    assert (args.os, args.arch, args.output_images_format) == (
        ["linux"],
        ["amd64", "arm64"],
        "json",
    )


@pytest.mark.parametrize("argv", [["-p", "0"], ["-r", "-1"], ["--output-images-format", "xml"]])
def test_out_of_range_values_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        imagesyncer.build_parser().parse_args(argv)
    assert exit_.value.code == 2


@pytest.mark.parametrize("flag", ["--dry-run", "--registry", "--cache", "--verbose"])
def test_syncers_own_extras_do_not_exist_here(flag: str) -> None:
    with pytest.raises(SystemExit):
        imagesyncer.build_parser().parse_args([flag, "x"])
