"""The command line image-syncer users type: no subcommand, the console script, help texts."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from syncer.cli import imagesyncer, main, sync
from syncer.cli.logfmt import LogrusFormatter, go_duration, quote
from syncer.engine.jobs import ImageResult
from syncer.text import EscapeControls


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every subcommand parser under it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(parsers(sub))
    return found


@pytest.mark.parametrize("build", [main.build_parser, imagesyncer.build_parser])
def test_every_option_has_help(build: object) -> None:
    assert callable(build)
    for parser in parsers(build()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (parser.prog, action.dest)


def test_help_starts_with_what_the_tool_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n", 2)[1]
    assert description.startswith("Copy container images between Docker Registry V2 / OCI")
    assert "``" not in out and "parse, load config" not in out


def test_sync_flags_without_a_subcommand_mean_sync(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`syncer --auth a --images i` runs sync: here it fails on the missing file, not usage."""
    code = main.main(["--auth", str(tmp_path / "a.yaml"), "--images", str(tmp_path / "i.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "a.yaml: cannot read" in err and "required: command" not in err


@pytest.mark.parametrize("argv", [["--bogus"], ["-x"], ["--images"]])
def test_bad_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main.main(argv)
    assert exit_.value.code == 2


def test_subcommands_and_version_still_reach_the_top(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("syncer ")
    assert {"sync", "plan", "status", "cancel", "worker"} <= set(
        main.subcommands(main.build_parser())
    )


def test_success_images_lists_copied_images_only() -> None:
    results = [
        ImageResult("s/a:1", "d/a:1", "synced"),
        ImageResult("s/a:1", "e/a:1", "synced"),
        ImageResult("s/a:1", "d/a:1", "synced"),
        ImageResult("s/b:1", "d/b:1", "skipped"),
        ImageResult("s/c:1", "d/c:1", "failed", "x"),
    ]
    assert sync.success_images(results) == {"s/a:1": ["d/a:1", "e/a:1"]}
    assert sync.success_images(results, ("synced", "skipped")) == {
        "s/a:1": ["d/a:1", "e/a:1"],
        "s/b:1": ["d/b:1"],
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.2759707, "275.9707ms"),
        (1.5, "1.5s"),
        (4.318390677, "4.318390677s"),
        (62.25, "1m2.25s"),
        (3723.0, "1h2m3s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("info", "info"),
        ("a/b@c.d-e_f+g^h", "a/b@c.d-e_f+g^h"),
        ("two words", '"two words"'),
        ('say "hi" \\o/', '"say \\"hi\\" \\\\o/"'),
        ("a\nb\x1b", '"a\\nb\\x1b"'),
    ],
)
def test_quote_like_logrus(value: str, text: str) -> None:
    assert quote(value) == text


def test_log_line_escapes_controls_and_keeps_tracebacks_on_one_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("syncer", logging.ERROR, "f", 1, "tag %s", ("v1\x1b[2J",), exc_info)
    EscapeControls().filter(record)
    line = LogrusFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith('time="') and ' level=error msg="tag v1\\\\x1b[2J" error="' in line


def test_sync_help_says_what_sync_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.main(["sync", "--help"])
    description = capsys.readouterr().out.split("\n\n", 2)[1]
    assert description.startswith("Copy the images an image-syncer config names")
