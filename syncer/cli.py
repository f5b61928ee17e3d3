"""The ``syncer`` command line: parse, load config, call the engine, print.

Exit codes: 0 when every image succeeded, 1 when some failed, 2 for a usage
or configuration error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import yaml

from syncer import __version__, defaults
from syncer.cache import BlobCache, FileBlobCache, MemoryBlobCache
from syncer.config import SyncConfig, load_config
from syncer.embedded import EmbeddedSync, SyncOptions
from syncer.errors import ConfigError, SyncerError
from syncer.jobs import ImageResult
from syncer.manifest import PlatformFilter
from syncer.progress import ProgressBar, Stats, summary
from syncer.reference import validate_tag
from syncer.text import EscapeControls, escape

log = logging.getLogger("syncer")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _non_negative(text: str) -> int:
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
        type=_positive,
        default=defaults.PROC,
        help="concurrent transfers, bounding registry connections (default 5)",
    )
    p.add_argument(
        "-r",
        "--retries",
        type=_non_negative,
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
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be copied, with byte totals; write nothing",
    )
    p.add_argument("--log", type=Path, metavar="FILE", help="write logs to FILE, not stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="syncer", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"syncer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="sync images in this process (no Redis needed)")
    add_config_arguments(sync)
    sync.add_argument(
        "--cache",
        type=Path,
        help=f"blob cache file (default {defaults.blob_cache_file()}); 'none' disables it",
    )
    sync.add_argument(
        "--output-success-images",
        type=Path,
        metavar="FILE",
        help="write the images that succeeded as an --images file",
    )
    sync.add_argument("--output-images-format", choices=("yaml", "json"), default="yaml")
    sync.add_argument(
        "--output", choices=("text", "json"), default="text", help="summary format on stdout"
    )
    sync.set_defaults(func=cmd_sync)

    from syncer import fleetcli

    fleetcli.add_parsers(sub, add_config_arguments)
    return parser


def setup_logging(log_file: Path | None, verbose: bool) -> None:
    """Log lines to stderr, or to ``--log FILE``."""
    handler: logging.Handler
    if log_file is not None:
        try:
            handler = logging.FileHandler(log_file)
        except OSError as exc:
            raise ConfigError(f"--log {log_file}: {exc.strerror}") from None
    else:
        handler = logging.StreamHandler(sys.stderr)
    fmt = "%(asctime)s %(levelname)s %(message)s"
    if log_file is None and sys.stderr.isatty():
        fmt = "\r\033[K" + fmt  # clear the progress bar's line before a log line
    handler.setFormatter(logging.Formatter(fmt, "%H:%M:%S"))
    # Tags, errors[] and headers from servers reach log lines: no raw controls.
    handler.addFilter(EscapeControls())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # urllib3 logs full URLs at DEBUG, including upload-session query strings.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def load(args: argparse.Namespace) -> SyncConfig:
    """Load the config the flags name; flags beat environment variables."""
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
    platforms = PlatformFilter.from_flags(args.os, args.arch)
    for item in platforms.archs:
        _, _, variant = item.partition(":")
        if variant:
            validate_tag(variant)
    return SyncOptions(proc=args.proc, retries=args.retries, force=args.force, platforms=platforms)


def open_cache(path: Path | None) -> BlobCache:
    """The embedded blob cache: a file, or nothing with ``--cache none``."""
    if path is not None and str(path) == "none":
        return MemoryBlobCache()
    return FileBlobCache(path or defaults.blob_cache_file())


def cmd_sync(args: argparse.Namespace) -> int:
    """``syncer sync``."""
    config = load(args)
    options = sync_options(args)
    stop = threading.Event()
    runner = EmbeddedSync(config, options, cache=open_cache(args.cache), stop=stop.is_set)
    if args.dry_run:
        from syncer.dryrun import dry_run

        print(dry_run(runner))
        return EXIT_OK

    def interrupt(signum: int, frame: object) -> None:
        # Stop streams at their next chunk before unwinding, so the thread
        # pools drain quickly instead of finishing every transfer.
        stop.set()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ProgressBar(runner.stats):
            stats = runner.run()
    except KeyboardInterrupt:
        print("interrupted: nothing was tagged for images still in flight", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.output_success_images:
        write_success_images(args.output_success_images, args.output_images_format, stats)
    if args.output == "json":
        print(json.dumps(stats.report(), indent=2))
    else:
        print(summary(stats))
    return EXIT_FAILED if stats.images.failed else EXIT_OK


def success_images(results: Sequence[ImageResult]) -> dict[str, str | list[str]]:
    """An ``images`` map of what succeeded, loadable again with ``--images``."""
    out: dict[str, list[str]] = {}
    for r in results:
        if r.status != "failed":
            dests = out.setdefault(r.source, [])
            if r.dest not in dests:
                dests.append(r.dest)
    return {k: v[0] if len(v) == 1 else v for k, v in sorted(out.items())}


def write_success_images(path: Path, fmt: str, stats: Stats) -> None:
    """Write ``--output-success-images``."""
    data = success_images(stats.results)
    text = json.dumps(data, indent=2) + "\n" if fmt == "json" else yaml.safe_dump(data)
    try:
        path.write_text(text)
    except OSError as exc:
        log.error("cannot write %s: %s", path, exc.strerror)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one-line errors and exit codes, never a traceback for bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup_logging(getattr(args, "log", None), getattr(args, "verbose", False))
        return int(args.func(args))
    except ConfigError as exc:
        print(f"syncer: error: {escape(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except SyncerError as exc:
        print(f"syncer: error: {escape(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
