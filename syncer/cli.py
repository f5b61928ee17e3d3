"""The ``syncer`` command line: parse, load config, call the engine, print.

Exit codes: 0 when every image succeeded, 1 when some failed, 2 for a usage
or configuration error (one line on stderr, never a traceback), and 128 plus
the signal's number when SIGINT (130) or SIGTERM (143) stopped a sync.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
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
from syncer.registry import deadline

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


class Interrupts:
    """SIGINT and SIGTERM during a sync: the first stops it within seconds, a second at once.

    The first signal stops new work, aborts every request in flight and
    unwinds the main thread with ``KeyboardInterrupt``; should anything still
    hold on after :data:`~syncer.defaults.STOP_GRACE` seconds, the process
    exits anyway. Nothing half-written is left: blob uploads are committed
    only after their digest matched, and a manifest PUT is atomic.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.signum = 0
        self._armed = threading.Event()
        # Started now, not in the handler: starting a thread takes a lock the
        # interrupted main thread may be holding.
        self._grace = threading.Thread(target=self._exit_late, name="stop-grace", daemon=True)
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Interrupts:
        self._grace.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.signum:
            return  # keep the handler: a second signal during cleanup exits at once
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum:
            os.write(2, b"syncer: interrupted again: exiting now\n")
            os._exit(128 + self.signum)
        self.signum = signum
        self.stop.set()
        deadline.interrupt()
        self._armed.set()
        raise KeyboardInterrupt

    def _exit_late(self) -> None:
        self._armed.wait()
        time.sleep(defaults.STOP_GRACE)
        os.write(2, b"syncer: interrupted: some work did not stop in time; exiting\n")
        os._exit(128 + self.signum)


def interrupted_line(signum: int, stats: Stats) -> str:
    """The one line printed when a signal stopped the sync."""
    img = stats.images
    left = max(img.total - img.done - img.skipped - img.failed, 0)
    return (
        f"syncer: interrupted by {signal.Signals(signum).name}: {img.done} synced, "
        f"{img.skipped} skipped, {img.failed} failed, {left} unfinished (of {img.total}); "
        "nothing was tagged for unfinished images"
    )


def cmd_sync(args: argparse.Namespace) -> int:
    """``syncer sync``."""
    config = load(args)
    options = sync_options(args)
    deadline.limits()  # a bad $SYNCER_* deadline fails here, as a usage error
    stop = threading.Event()
    runner = EmbeddedSync(config, options, cache=open_cache(args.cache), stop=stop.is_set)
    if args.dry_run:
        from syncer.dryrun import dry_run

        print(dry_run(runner))
        return EXIT_OK

    signals = Interrupts(stop)
    try:
        with signals, ProgressBar(runner.stats):
            stats = runner.run()
    except KeyboardInterrupt:
        signum = signals.signum or signal.SIGINT
        print(interrupted_line(signum, runner.stats), file=sys.stderr)
        return 128 + signum  # as shells report a signal: 130, 143
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
        print(f"syncer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SyncerError as exc:
        print(f"syncer: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
