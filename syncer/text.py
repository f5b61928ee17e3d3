"""Text from servers made safe to print: control characters become visible escapes.

A tag, an ``errors[]`` message or a header can carry ESC sequences that
rewrite a terminal, a newline that forges a log line, or a bidi override that
reorders what a reader sees. This module is the one policy for it:
:func:`shown` clips and escapes server text as it goes into a message, and
:func:`escape` is applied again where text leaves the program: the log
filter below (embedded, planner and worker logs), the human summary, the
dry-run report and one-line errors. JSON output needs nothing: ``json.dumps``
escapes every control character itself.

Backslashes are left alone, so escaping twice changes nothing.
"""

from __future__ import annotations

import logging

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
#: C0 and DEL, C1 (NEL among them), the line and paragraph separators
#: ``str.splitlines`` breaks on, and the Unicode bidi controls
#: (https://www.unicode.org/reports/tr9/#Directional_Formatting_Characters).
_UNSAFE = (
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_TABLE = {
    cp: _NAMED.get(cp) or (f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}") for cp in _UNSAFE
}
_TABLE_KEEP_NEWLINES = {cp: text for cp, text in _TABLE.items() if cp != 0x0A}


#: Characters of server text a one-line message shows; the rest becomes "…".
#: ``errors[]`` messages are a few hundred characters, tags at most 128.
SHOWN = 300


def shown(text: str, limit: int = SHOWN) -> str:
    """Server text for a one-line message: :func:`escape`, at most ``limit`` characters, then "…".

    The limit counts what is shown, escapes included, so a page of control
    characters is no longer than a page of letters.
    """
    out: list[str] = []
    used = 0
    for ch in text:
        piece = ch.translate(_TABLE)
        used += len(piece)
        if used > limit:
            return "".join(out) + "…"
        out.append(piece)
    return "".join(out)


def escape(text: str) -> str:
    """``text`` with every control, C1 and bidi character as a visible escape (``\\x1b``)."""
    return text.translate(_TABLE)


def escape_lines(text: str) -> str:
    """Like :func:`escape`, but keep ``\\n``: for multi-line text we built (tracebacks)."""
    return text.translate(_TABLE_KEEP_NEWLINES)


class EscapeControls(logging.Filter):
    """A handler filter: escape the message, its ``%s`` arguments and any traceback."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place (handlers that share it see it escaped); keep it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: show its parts instead
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = escape(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = escape_lines(record.exc_text)
        if record.stack_info:
            record.stack_info = escape_lines(record.stack_info)
        return True
