"""Flags ``sync``, ``plan`` and ``image-syncer`` share, and the config and options they build."""

from __future__ import annotations

import argparse
import os
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


def positive(text: str) -> int:
    """A whole number of at least 1, for ``--proc``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative(text: str) -> int:
    """A whole number of at least 0, for ``--retries``."""
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")


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
        type=positive,
        default=defaults.PROC,
        help="concurrent transfers, bounding registry connections (default 5)",
    )
    p.add_argument(
        "-r",
        "--retries",
        type=non_negative,
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
    p.add_argument("--log", type=Path, metavar="FILE", help="write logs to FILE, not stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def add_success_image_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """image-syncer's ``--output-success-images FILE`` and ``--output-images-format``."""
    p.add_argument("--output-success-images", type=Path, metavar="FILE", help=what)
    p.add_argument(
        "--output-images-format",
        choices=("yaml", "json"),
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
        proc=args.proc,
        retries=args.retries,
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
