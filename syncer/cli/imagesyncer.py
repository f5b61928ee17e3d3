"""The ``image-syncer`` command: image-syncer v1.5.5's exact flags, running ``syncer sync``.

A container or script can swap the binary and keep its command line. Only
image-syncer's flags exist here (``syncer sync`` keeps the extras), read as
its flag parser (pflag) reads them: ``--force=WORD`` with Go's booleans, Go's
integer spellings (``-p 0x10``), no abbreviated long flags. Whatever
image-syncer accepts and copies with, this script accepts too, warning where
the original is silent:

- a stray word (``--arch amd64 arm64``) is ignored, with a warning naming it;
- ``-p 0`` and ``-r -1`` run with 1 and 0;
- ``--output-images-format`` is read in any case (``JSON`` writes JSON), and
  any other word writes YAML, as image-syncer does, with a warning.

Where it differs: every usage or config error exits 2 (image-syncer: 255),
on stderr, starting ``image-syncer: error:``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from syncer import defaults
from syncer.cli.args import add_success_image_arguments, go_int, log_path, stray_words, strict
from syncer.cli.exits import run
from syncer.cli.sync import cmd_sync

DESCRIPTION = (
    "Copy container images between Docker Registry V2 / OCI registries. "
    "syncer's drop-in for image-syncer: the same flags, defaults and files."
)
#: strconv.ParseBool's words, which pflag accepts in ``--force=WORD``.
_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def _go_bool(text: str) -> bool:
    if text in _GO_BOOLS:
        return _GO_BOOLS[text]
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def force_words(words: Sequence[str]) -> tuple[list[str], bool]:
    """``words`` without ``--force``/``--force=WORD``, and the value the last one sets.

    pflag takes ``--force=false`` on a plain switch; argparse cannot without
    showing ``--force [FORCE]`` in ``--help``, so the switch is read here.
    """
    rest: list[str] = []
    force = False
    for word in words:
        if word == "--force":
            force = True
        elif word.startswith("--force="):
            force = _go_bool(word.partition("=")[2])
        else:
            rest.append(word)
    return rest, force


def build_parser() -> argparse.ArgumentParser:
    """image-syncer's flag set, with its defaults and help texts (made a little clearer)."""
    p = argparse.ArgumentParser(prog="image-syncer", description=DESCRIPTION, allow_abbrev=False)
    p.add_argument("--config", type=Path, help="legacy single config file (auth and images)")
    p.add_argument("--auth", type=Path, help="auth file path (JSON or YAML), used with --images")
    p.add_argument("--images", type=Path, help="images file path (JSON or YAML)")
    p.add_argument("--log", type=log_path, metavar="FILE", help="log file path (default stderr)")
    p.add_argument(
        "-p",
        "--proc",
        type=go_int,
        default=defaults.PROC,
        help=f"concurrent transfers (default {defaults.PROC})",
    )
    p.add_argument(
        "-r",
        "--retries",
        type=go_int,
        default=defaults.RETRIES,
        help=f"times to retry failed images (default {defaults.RETRIES})",
    )
    p.add_argument(
        "--os",
        action="append",
        default=[],
        help="only these OSes from image lists (repeatable)",
    )
    p.add_argument(
        "--arch",
        action="append",
        default=[],
        help="only these architectures from image lists (repeatable)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="push manifests even when the destination has them (--force=false too)",
    )
    add_success_image_arguments(p, "write the images copied in this run to FILE")
    p.set_defaults(
        func=cmd_sync,
        config_file=None,
        registry=None,
        namespace=None,
        dry_run=False,
        verbose=False,
        cache=None,
        success_includes_unchanged=False,
        since=None,
        record=None,
        # image-syncer prints nothing on stdout when it succeeds; the log has the summary.
        output="none",
    )
    return strict(p)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """image-syncer's command line as a namespace for :func:`syncer.cli.sync.cmd_sync`."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        words, force = force_words(words)
    except argparse.ArgumentTypeError as exc:
        parser.error(f"argument --force: {exc}")
    args, extra = parser.parse_known_args(words)
    flags = [w for w in extra if w.startswith("-") and w != "-"]
    if flags:
        parser.error(f"unrecognized arguments: {' '.join(flags)}")
    args.force = force
    args.stray_words = stray_words(args, extra)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``image-syncer`` console script."""
    return run(parse(argv), prog="image-syncer")
