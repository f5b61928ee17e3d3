"""Where log lines go: ``--log FILE`` in logrus's format, else stderr; never raw controls."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.cli.logfmt import LogrusFormatter, setup_logging
from syncer.text import EscapeControls


@pytest.fixture(autouse=True)
def root_logger() -> Iterator[logging.Logger]:
    """``setup_logging`` replaces the root logger's handlers: put pytest's back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    urllib3 = logging.getLogger("urllib3").level
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level
    logging.getLogger("urllib3").setLevel(urllib3)


def test_log_file_gets_logrus_lines_with_controls_escaped(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    setup_logging(tmp_path / "sync.log", verbose=False)
    [handler] = root_logger.handlers
    assert isinstance(handler.formatter, LogrusFormatter)
    assert any(isinstance(f, EscapeControls) for f in handler.filters)
    logging.getLogger("syncer").debug("hidden")
    logging.getLogger("syncer").info("tag %s", "v1\x1b[2J")
    handler.flush()
    line = (tmp_path / "sync.log").read_text()
    assert "hidden" not in line and line.count("\n") == 1
    assert ' level=info msg="tag v1\\\\x1b[2J"' in line


def test_without_a_file_logs_go_to_stderr_and_urllib3_stays_quiet(
    root_logger: logging.Logger,
) -> None:
    setup_logging(None, verbose=True)
    [handler] = root_logger.handlers
    assert type(handler) is logging.StreamHandler and handler.stream is sys.stderr
    assert root_logger.level == logging.DEBUG
    assert logging.getLogger("urllib3").level == logging.WARNING


def test_an_unwritable_log_file_falls_back_to_stderr_and_says_so(
    root_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """image-syncer logs to stderr when --log cannot be opened, and copies: so does syncer."""
    setup_logging(tmp_path / "missing" / "sync.log", verbose=False)
    [handler] = root_logger.handlers
    assert type(handler) is logging.StreamHandler and handler.stream is sys.stderr
    err = capsys.readouterr().err
    assert "WARNING --log " in err and "missing/sync.log: No such file or directory" in err
    assert "logging to stderr instead" in err
