"""Flags ``sync``, ``plan`` and ``image-syncer`` share, and the config and options they build."""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from syncer import defaults
from syncer.cli.referrerargs import add_referrer_arguments, referrer_options
from syncer.errors import ConfigError

# The config parsers (yaml, re2, the rule forms) load when a command reads its
# config, not when `syncer --version` builds the parsers.
if TYPE_CHECKING:
    from syncer.config.files import SyncConfig
    from syncer.engine.options import SyncOptions

log = logging.getLogger("syncer")


#: The most ``--proc`` runs with: each slot sizes connection pools up front, and
#: image-syncer's lazy Go pool takes any number.
MAX_PROC = 1000


#: Go's C-style octal (``017``), which Python's ``int(text, 0)`` refuses.
_GO_OCTAL = re.compile(r"[+-]?0_?[0-7][0-7_]*")
#: The values each count flag can use; image-syncer takes any and copies anyway.
_RANGES = {"proc": (1, MAX_PROC, "-p/--proc"), "retries": (0, None, "-r/--retries")}
#: The formats ``--output-images-format`` names; image-syncer writes YAML for any other word.
_IMAGE_FORMATS = {"json": "json", "yaml": "yaml", "yml": "yaml"}


def go_int(text: str) -> int:
    """A whole number as image-syncer's flag parser reads it (pflag: Go's ``ParseInt``, base 0).

    ``12``, ``+3``, ``-1``, ``0x1f``, ``0o17``, ``017`` (octal, as in Go), ``0b101``,
    ``1_000``. Range is checked by :func:`sync_options`, which can log.
    """
    try:
        if text != text.strip():
            raise ValueError(text)  # Python's int() would strip the space; Go's does not
        if _GO_OCTAL.fullmatch(text):
            value = int(text.lstrip("+-"), 8) * (-1 if text.startswith("-") else 1)
        else:
            value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    limit = 1 << 63  # Go's int on the 64-bit platforms image-syncer ships for
    if not -limit <= value < limit:
        raise argparse.ArgumentTypeError(f"{text!r}: value out of range")
    return value


def in_range(args: argparse.Namespace, name: str) -> int:
    """``args.<name>``, moved to the nearest value that works, with a warning.

    image-syncer takes ``-p 0`` (an unbounded pool), ``-r -1`` (no retries) and
    ``-p 1000000000`` and copies, so a swapped binary must too.
    """
    value: int = getattr(args, name)
    low, high, flag = _RANGES[name]
    if value < low:
        log.warning("%s %d is below %d: using %d", flag, value, low, low)
        return low
    if high is not None and value > high:
        log.warning("%s %d is above %d: using %d", flag, value, high, high)
        return high
    return value


def images_format(text: str) -> str:
    """``--output-images-format``: ``json`` in any case, else YAML, as image-syncer writes."""
    fmt = _IMAGE_FORMATS.get(text.lower())
    if fmt is None:
        log.warning("--output-images-format %r is not json or yaml: writing YAML", text)
        return "yaml"
    if text != fmt and text != "yml":
        # image-syncer compares with "json" exactly and writes YAML for JSON; the
        # word says JSON, so syncer writes JSON (see docs/image-syncer.md).
        log.info("--output-images-format %s: writing %s", text, fmt.upper())
    return fmt


def log_path(text: str) -> Path | None:
    """``--log FILE``; an empty word logs to stderr, as image-syncer does with ``--log ""``."""
    return Path(text) if text else None


def strict(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` and its subcommands with abbreviated long flags turned off.

    argparse would read ``--ima`` as ``--images``; image-syncer's pflag says
    "unknown flag", and a typo must stay an error.
    """
    for each in _tree(parser):
        each.allow_abbrev = False
    return parser


def _tree(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:  # argparse offers no public way to reach subparsers
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _tree(sub)


def stray_words(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """Words of an image-syncer command line that are not flags, which it ignores.

    ``extra`` is what ``parse_known_args`` left; a leftover flag is still an
    error (the caller's). With ``--config`` or ``--images`` given, a
    ``CONFIG`` word is stray too: image-syncer has no positional config.
    """
    words = [w for w in extra if not w.startswith("-") or w == "-"]
    config_file = getattr(args, "config_file", None)
    if config_file is not None and (args.config is not None or args.images is not None):
        words.insert(0, str(config_file))
        args.config_file = None
    return words


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The config and flags ``sync`` and ``plan`` share (image-syncer's, plus ours)."""
    p.add_argument(
        "config_file",
        nargs="?",
        type=Path,
        metavar="CONFIG",
        help="legacy single config file (same as --config)",
    )
    p.add_argument("--config", type=Path, help="legacy single file with auth and images")
    p.add_argument("--auth", type=Path, help="auth file (JSON or YAML)")
    p.add_argument("--images", type=Path, help="images rule file (JSON or YAML)")
    p.add_argument("--registry", help="default destination registry (env DEFAULT_REGISTRY)")
    p.add_argument("--namespace", help="default destination namespace (env DEFAULT_NAMESPACE)")
    p.add_argument(
        "-p",
        "--proc",
        type=go_int,
        default=defaults.PROC,
        help="concurrent transfers, bounding registry connections (default 5)",
    )
    p.add_argument(
        "-r",
        "--retries",
        type=go_int,
        default=defaults.RETRIES,
        help="times to retry images that failed transiently (default 2)",
    )
    p.add_argument(
        "--os",
        action="append",
        default=[],
        metavar="OS[:VERSION]",
        help="only these OSes from image lists (repeatable, comma lists)",
    )
    p.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH[:VARIANT]",
        help="only these architectures from image lists (repeatable, comma lists)",
    )
    p.add_argument("--force", action="store_true", help="push manifests even when unchanged")
    add_referrer_arguments(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be copied, with byte totals; write nothing",
    )
    p.add_argument("--log", type=log_path, metavar="FILE", help="write logs to FILE, not stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def add_success_image_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """image-syncer's ``--output-success-images FILE`` and ``--output-images-format``."""
    p.add_argument("--output-success-images", type=Path, metavar="FILE", help=what)
    p.add_argument(
        "--output-images-format",
        metavar="yaml|json",
        default="yaml",
        help="format of --output-success-images (default yaml)",
    )


def load(args: argparse.Namespace) -> SyncConfig:
    """Load the config the flags name; flags beat environment variables."""
    from syncer.config.files import load_config

    config = args.config or args.config_file
    if config is None and args.images is None:
        raise ConfigError("no config: pass CONFIG, --config FILE, or --images FILE")
    defaults.check_limits()
    return load_config(
        config,
        args.auth,
        args.images,
        default_registry=args.registry or os.environ.get("DEFAULT_REGISTRY") or None,
        default_namespace=args.namespace or os.environ.get("DEFAULT_NAMESPACE") or None,
    )


def sync_options(args: argparse.Namespace) -> SyncOptions:
    """The typed options behind the flags."""
    from syncer.engine.options import SyncOptions
    from syncer.oci.manifest import PlatformFilter
    from syncer.oci.reference import validate_tag

    platforms = PlatformFilter.from_flags(args.os, args.arch)
    for item in platforms.archs:
        _, _, variant = item.partition(":")
        if variant:
            validate_tag(variant)
    return SyncOptions(
        proc=in_range(args, "proc"),
        retries=in_range(args, "retries"),
        force=args.force,
        platforms=platforms,
        **referrer_options(args),
    )


def refuse_layouts(config: SyncConfig) -> None:
    """Refuse rules that read or write OCI layouts: the fleet does not support them.

    A layout is a directory on the machine that runs ``syncer sync``; fleet
    workers run elsewhere, and a volume shared by all of them is not supported.
    """
    from syncer.config.rules import quote_key

    for rule in config.rules:
        for repo in (rule.source, *(d.repo for d in rule.destinations)):
            if repo.is_layout:
                raise ConfigError(
                    f"images[{quote_key(rule.key)}]: {repo}: OCI image layouts and archives "
                    "are for syncer sync; the fleet does not read or write them"
                )
