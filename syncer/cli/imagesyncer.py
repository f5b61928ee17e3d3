"""The ``image-syncer`` command: image-syncer v1.5.5's exact flags, running ``syncer sync``.

A container or script can swap the binary and keep its command line. Only
image-syncer's flags exist here (``syncer sync`` keeps the extras). Where
the parsing differs, it is on purpose:

- a stray word (``--arch amd64 arm64``) is a usage error, exit 2, where
  image-syncer ignores it silently;
- every usage or config error exits 2, image-syncer's exit code is 255;
- ``--output-images-format`` takes ``yaml`` or ``json`` only, where image-syncer
  silently writes YAML for any other word.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from syncer import defaults
from syncer.cli.args import add_success_image_arguments, non_negative, positive
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


def build_parser() -> argparse.ArgumentParser:
    """image-syncer's flag set, with its defaults and help texts (made a little clearer)."""
    p = argparse.ArgumentParser(prog="image-syncer", description=DESCRIPTION)
    p.add_argument("--config", type=Path, help="legacy single config file (auth and images)")
    p.add_argument("--auth", type=Path, help="auth file path (JSON or YAML), used with --images")
    p.add_argument("--images", type=Path, help="images file path (JSON or YAML)")
    p.add_argument("--log", type=Path, metavar="FILE", help="log file path (default stderr)")
    p.add_argument(
        "-p",
        "--proc",
        type=positive,
        default=defaults.PROC,
        help=f"concurrent transfers (default {defaults.PROC})",
    )
    p.add_argument(
        "-r",
        "--retries",
        type=non_negative,
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
        nargs="?",
        const=True,
        default=False,
        type=_go_bool,
        help="push manifests even when the destination has them",
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``image-syncer`` console script."""
    return run(build_parser().parse_args(argv))
