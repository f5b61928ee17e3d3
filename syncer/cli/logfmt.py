"""Where log lines go, and image-syncer's format: logrus text lines, Go's durations.

``--log FILE`` is written the way image-syncer (logrus ``TextFormatter`` with
``FullTimestamp``) writes it, so the ``grep`` in a user's cron job keeps
working::

    time="2026-01-02 15:04:05" level=info msg="Synchronization finished, 0 tasks failed, cost 1.5s."

Control characters are already escaped by :class:`syncer.text.EscapeControls`
before a record gets here; quoting then escapes ``\\`` and ``"`` as logrus does.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

from syncer.text import EscapeControls, escape

#: logrus's level names (``logrus.Level.String``).
_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}
#: Values logrus writes bare; anything else is quoted (``TextFormatter.needsQuoting``).
_BARE = re.compile(r"[A-Za-z0-9\-._/@^+]+")


def quote(value: str) -> str:
    """``value`` as logrus writes a field: bare when safe, else a Go-style quoted string."""
    if _BARE.fullmatch(value):
        return value
    return '"' + escape(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def go_duration(seconds: float) -> str:
    """Seconds as Go's ``time.Duration.String`` spells them: ``1m2.5s``, ``350.2ms``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return _trim(f"{seconds * 1000:.6f}") + "ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = _trim(f"{secs:.9f}") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number


class LogrusFormatter(logging.Formatter):
    """``time="YYYY-MM-DD HH:MM:SS" level=info msg="…"``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        """One logrus line; a traceback goes into an ``error=`` field on the same line."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        level = _LEVELS.get(record.levelno, record.levelname.lower())
        line = f"time={quote(when)} level={level} msg={quote(record.getMessage())}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += f" error={quote(record.exc_text)}"
        return line


def setup_logging(log_file: Path | None, verbose: bool) -> None:
    """Log lines to stderr, or to ``--log FILE``.

    A file that cannot be opened is not fatal: image-syncer logs to stderr
    then and copies, so syncer does the same, and says why on stderr first.
    """
    handler: logging.Handler
    problem = ""
    if log_file is not None:
        try:
            # Truncated per run and in logrus's format, as image-syncer writes it.
            handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
            handler.setFormatter(LogrusFormatter())
        except OSError as exc:
            problem = f"--log {log_file}: {exc.strerror or exc}: logging to stderr instead"
            log_file = None
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(message)s"
        if sys.stderr.isatty():
            fmt = "\r\033[K" + fmt  # clear the progress bar's line before a log line
        handler.setFormatter(logging.Formatter(fmt, "%H:%M:%S"))
    # Tags, errors[] and headers from servers reach log lines: no raw controls.
    handler.addFilter(EscapeControls())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # urllib3 logs full URLs at DEBUG, including upload-session query strings.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    if problem:
        logging.getLogger("syncer").warning("%s", problem)
