"""syncer's exit codes, and the one place errors become them.

0 when every image succeeded, 1 when some failed, 2 for a usage or
configuration error (one line on stderr, never a traceback), 3 when Redis lost
a plan's state (``status`` of a lost plan, ``plan --wait`` after it lost the
plan ``PLAN_LOSSES_MAX`` times), and 128 plus the signal's number when SIGINT
(130) or SIGTERM (143) stopped the command.
"""

from __future__ import annotations

import argparse
import logging
import sys

from syncer.cli.logfmt import setup_logging
from syncer.errors import ConfigError, SyncerError
from syncer.text import escape

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Redis lost the plan's state: never 0, whatever its counters said.
EXIT_LOST = 3
#: Ctrl-C while following a plan (the shell's 128 + SIGINT).
EXIT_INTERRUPTED = 130


def by_signal(signum: int) -> int:
    """The exit code of a command a signal stopped, as shells report it: 130, 143."""
    return 128 + signum


def run(args: argparse.Namespace, prog: str = "syncer") -> int:
    """Run a parsed command with one-line errors and syncer's exit codes.

    ``prog`` starts each error line: ``image-syncer`` for that console script.
    Words of an image-syncer command line that are not flags
    (``args.stray_words``) are logged once logging is set up, and ignored.
    """
    try:
        setup_logging(getattr(args, "log", None), getattr(args, "verbose", False))
        for word in getattr(args, "stray_words", ()):
            logging.getLogger("syncer").warning(
                "ignoring %r: not a flag or a flag's value (image-syncer ignores it too)", word
            )
        return int(args.func(args))
    except ConfigError as exc:
        print(f"{prog}: error: {escape(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except SyncerError as exc:
        print(f"{prog}: error: {escape(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
