"""The ``syncer`` command line: the root parser, and dispatch to a subcommand.

Each subcommand parses, loads config, calls the engine or the planner, and
prints; :mod:`syncer.cli.exits` lists the exit codes. A command line that
starts with a flag (``syncer --auth a.yaml --images i.yaml``) is ``sync``, so
image-syncer command lines work unchanged, stray words and all (ignored with a
warning, as image-syncer ignores them). Any other first word must name a
subcommand: a typo (``syncer stauts``) is a usage error, never a sync.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from syncer import __version__
from syncer.cli.args import stray_words, strict
from syncer.cli.exits import run
from syncer.cli.fleet import add_fleet_parsers
from syncer.cli.history import add_history_parsers
from syncer.cli.metrics import add_metrics_parser
from syncer.cli.probe import add_probe_parser
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
    add_probe_parser(sub)
    add_schedule_parsers(sub)
    add_verify_parser(sub)
    add_webhook_parser(sub)
    return strict(parser)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands ``parser`` knows, by name."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # argparse offers no public way to list them
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one-line errors and exit codes, never a traceback for bad input."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] in _TOP_LEVEL or words[0] in subcommands(parser):
        return run(parser.parse_args(words))
    if not words[0].startswith("-"):
        names = ", ".join(sorted(subcommands(parser)))
        parser.error(
            f"unknown command {words[0]!r}: choose from {names} "
            "(image-syncer's flags with no command mean sync)"
        )
    # image-syncer's command line: sync flags, no subcommand.
    args, extra = parser.parse_known_args(["sync", *words])
    flags = [w for w in extra if w.startswith("-") and w != "-"]
    if flags:
        subcommands(parser)["sync"].error(f"unrecognized arguments: {' '.join(flags)}")
    args.stray_words = stray_words(args, extra)
    return run(args)
