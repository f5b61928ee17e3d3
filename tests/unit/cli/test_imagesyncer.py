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
    assert imagesyncer.parse([f"--force={word}"]).force is value


@pytest.mark.parametrize(
    ("argv", "value"),
    [(["--force"], True), (["--force", "--force=false"], False), (["--force=0", "--force"], True)],
)
def test_the_last_force_wins(argv: list[str], value: bool) -> None:
    assert imagesyncer.parse(argv).force is value


def test_force_is_a_plain_switch_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    """image-syncer's --help shows `--force`, not `--force [FORCE]`."""
    with pytest.raises(SystemExit):
        imagesyncer.parse(["--help"])
    out = capsys.readouterr().out
    assert "[--force]" in out and "FORCE" not in out


def test_console_script_ignores_stray_words_as_image_syncer_does() -> None:
    args = imagesyncer.parse(["--arch", "amd64", "arm64", "--images", "i.yaml", "true"])
    assert args.arch == ["amd64"] and args.stray_words == ["arm64", "true"]


@pytest.mark.parametrize("argv", [["--bogus"], ["--ima", "i.yaml"], ["--images"]])
def test_unknown_and_abbreviated_flags_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        imagesyncer.parse(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("image-syncer: error:")


@pytest.mark.parametrize("word", ["yes", "2", ""])
def test_force_refuses_what_go_would_not_parse(
    word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        imagesyncer.parse([f"--force={word}"])
    assert exit_.value.code == 2
    assert "is not true or false" in capsys.readouterr().err


def test_errors_name_image_syncer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = imagesyncer.main(["--images", str(tmp_path / "missing.yaml")])
    assert code == 2
    assert capsys.readouterr().err.startswith("image-syncer: error: ")


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


@pytest.mark.parametrize(
    ("argv", "attr", "value"),
    [
        (["-p", "0"], "proc", 0),
        (["-r", "-1"], "retries", -1),
        (["-p", "0x10"], "proc", 16),
        (["--output-images-format", "JSON"], "output_images_format", "JSON"),
    ],
)
def test_values_image_syncer_takes_parse(argv: list[str], attr: str, value: object) -> None:
    """Taken as written; sync_options and images_format make them usable, with a warning."""
    assert getattr(imagesyncer.parse(argv), attr) == value


@pytest.mark.parametrize("flag", ["--dry-run", "--registry", "--cache", "--verbose"])
def test_syncers_own_extras_do_not_exist_here(flag: str) -> None:
    with pytest.raises(SystemExit):
        imagesyncer.build_parser().parse_args([flag, "x"])
