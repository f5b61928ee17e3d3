"""The ``syncer`` command line: the root parser, and dispatch to a subcommand.

Each subcommand parses, loads config, calls the engine or the planner, and
prints; :mod:`syncer.cli.exits` lists the exit codes. With sync flags and no
subcommand (``syncer --auth a.yaml --images i.yaml``), the command is
``sync``, so image-syncer command lines work unchanged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from syncer import __version__
from syncer.cli.exits import run
from syncer.cli.fleet import add_fleet_parsers
from syncer.cli.history import add_history_parsers
from syncer.cli.metrics import add_metrics_parser
from syncer.cli.schedule import add_schedule_parsers
from syncer.cli.sync import add_sync_parser
from syncer.cli.verify import add_verify_parser
from syncer.cli.webhook import add_webhook_parser

#: What ``syncer --help`` says first.
DESCRIPTION = (
    "Copy container images between Docker Registry V2 / OCI registries, without a "
    "Docker daemon or disk. Reads image-syncer's config files and flags unchanged: "
    "with no subcommand, `syncer --auth a.yaml --images i.yaml` means `syncer sync ...`."
)
#: Words that are not a config file: they must reach the top-level parser.
_TOP_LEVEL = ("-h", "--help", "--version")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="syncer", description=DESCRIPTION)
    parser.add_argument(
        "--version",
        action="version",
        version=f"syncer {__version__}",
        help="print syncer's version and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_sync_parser(sub)
    add_fleet_parsers(sub)
    add_history_parsers(sub)
    add_metrics_parser(sub)
    add_schedule_parsers(sub)
    add_verify_parser(sub)
    add_webhook_parser(sub)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    """The subcommand names ``parser`` knows."""
    names: set[str] = set()
    for action in parser._actions:  # argparse offers no public way to list them
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one-line errors and exit codes, never a traceback for bad input."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] not in _TOP_LEVEL and words[0] not in subcommands(parser):
        words.insert(0, "sync")  # image-syncer's command line: sync flags, no subcommand
    args = parser.parse_args(words)
    return run(args)
