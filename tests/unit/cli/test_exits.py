"""syncer's exit codes, and ``run()``: one line on stderr instead of a traceback."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import pytest

from syncer.cli import exits
from syncer.errors import ConfigError, RegistryError


def test_exit_codes_are_pinned() -> None:
    """Scripts and image-syncer users depend on these numbers."""
    assert (exits.EXIT_OK, exits.EXIT_FAILED, exits.EXIT_USAGE) == (0, 1, 2)
    assert exits.EXIT_INTERRUPTED == exits.by_signal(signal.SIGINT) == 130
    assert exits.by_signal(signal.SIGTERM) == 143


@pytest.fixture
def logging_set_up(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path | None, bool]]:
    """Records what ``run`` asked of the log setup, leaving the root logger alone."""
    calls: list[tuple[Path | None, bool]] = []
    monkeypatch.setattr(exits, "setup_logging", lambda log, verbose: calls.append((log, verbose)))
    return calls


def _command(result: int | BaseException) -> argparse.Namespace:
    def func(args: argparse.Namespace) -> int:
        if isinstance(result, BaseException):
            raise result
        return result

    return argparse.Namespace(func=func, log=Path("x.log"), verbose=True)


def test_run_returns_the_command_code_after_setting_up_logs(
    logging_set_up: list[tuple[Path | None, bool]],
) -> None:
    assert exits.run(_command(7)) == 7
    assert logging_set_up == [(Path("x.log"), True)]


def test_run_without_log_flags_logs_to_stderr_quietly(
    logging_set_up: list[tuple[Path | None, bool]],
) -> None:
    """``status`` and ``cancel`` have no --log or -v."""
    assert exits.run(argparse.Namespace(func=lambda args: 0)) == 0
    assert logging_set_up == [(None, False)]


@pytest.mark.parametrize(
    ("error", "code"),
    [(ConfigError("bad key\x1b[2J"), 2), (RegistryError("registry said no\x1b[2J"), 1)],
)
def test_run_turns_errors_into_one_escaped_line(
    logging_set_up: list[tuple[Path | None, bool]],
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    code: int,
) -> None:
    assert exits.run(_command(error)) == code
    err = capsys.readouterr().err
    assert err.startswith("syncer: error: ") and err.count("\n") == 1
    assert "\x1b" not in err and "Traceback" not in err


def test_run_names_the_command_it_runs_as(
    logging_set_up: list[tuple[Path | None, bool]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as image-syncer, errors say `image-syncer: error:`."""
    assert exits.run(_command(ConfigError("bad")), prog="image-syncer") == exits.EXIT_USAGE
    assert capsys.readouterr().err == "image-syncer: error: bad\n"


def test_run_logs_stray_words_and_runs(
    logging_set_up: list[tuple[Path | None, bool]], caplog: pytest.LogCaptureFixture
) -> None:
    args = _command(0)
    args.stray_words = ["arm64"]
    assert exits.run(args) == 0
    assert "ignoring 'arm64': not a flag" in caplog.text


def test_run_lets_other_exceptions_through(
    logging_set_up: list[tuple[Path | None, bool]],
) -> None:
    """A bug is not a usage error: it keeps its traceback."""
    with pytest.raises(ZeroDivisionError):
        exits.run(_command(ZeroDivisionError()))
