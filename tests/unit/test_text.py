"""Escaping server text for terminals and logs."""

from __future__ import annotations

import io
import logging

import pytest

from syncer.engine.jobs import ImageResult
from syncer.engine.progress import Stats, summary
from syncer.text import SHOWN, EscapeControls, escape, escape_lines, shown

HOSTILE = "v1\x1b[2J\r\nFORGED 00:00:00 ERROR x\x07\x9b31m\u202egnp.exe\u2028\x00"


def test_escape_makes_every_control_visible() -> None:
    out = escape(HOSTILE)
    assert out == ("v1\\x1b[2J\\r\\nFORGED 00:00:00 ERROR x\\x07\\x9b31m\\u202egnp.exe\\u2028\\x00")
    assert out.isprintable() and len(out.splitlines()) == 1


@pytest.mark.parametrize("text", ["plain tag v1.2-rc_3", "café ☃ 日本", "C:\\path\\x1b"])
def test_printable_text_is_unchanged_and_escaping_is_idempotent(text: str) -> None:
    assert escape(text) == text
    assert escape(escape(HOSTILE)) == escape(HOSTILE)


def test_escape_lines_keeps_newlines_only() -> None:
    assert escape_lines("a\x1b\nb\r\n") == "a\\x1b\nb\\r\n"


def _logged(msg: str, *args: object, exc: bool = False) -> str:
    """What a handler with the filter writes for one record (no logger, no propagation)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(EscapeControls())
    exc_info = None
    if exc:
        try:
            raise ValueError(HOSTILE)
        except ValueError as err:
            exc_info = (ValueError, err, err.__traceback__)
    handler.handle(logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info))
    return stream.getvalue()


def test_the_log_filter_escapes_message_and_arguments() -> None:
    out = _logged("failed %s: %s", "src:" + HOSTILE, {"reason": HOSTILE})
    assert "\x1b" not in out and "\u202e" not in out and "\x9b" not in out
    assert out.count("\n") == 1 and out.startswith("failed src:v1\\x1b[2J\\r\\nFORGED")


def test_the_log_filter_escapes_tracebacks_but_keeps_their_lines() -> None:
    out = _logged("boom %s", HOSTILE, exc=True)
    assert "\x1b" not in out and "\r" not in out
    assert "Traceback (most recent call last):" in out.splitlines()[1]


def test_a_bad_format_string_is_still_escaped_and_never_raises() -> None:
    out = _logged("%d items\x1b", "not a number")
    assert "\x1b" not in out and "not a number" in out


def test_the_summary_escapes_failed_images() -> None:
    stats = Stats()
    stats.record(ImageResult("src/app:" + HOSTILE, "dst/app", "failed", "HTTP 404 " + HOSTILE))
    text = summary(stats)
    assert "\x1b" not in text and "\u202e" not in text
    assert not any(line.startswith("FORGED") for line in text.splitlines())
    assert "src/app:v1\\x1b[2J" in text


def test_shown_clips_and_escapes_server_text() -> None:
    assert shown("a\nb\x1b[2J") == "a\\nb\\x1b[2J"
    assert shown("x" * (SHOWN + 50)) == "x" * SHOWN + "…"
    assert shown("\u202eevil", limit=8) == "\\u202eev…"
    assert len(shown("\x00" * 1000)) == SHOWN + 1  # escapes count: 75 of them, then …
    assert shown("short", limit=5) == "short"
