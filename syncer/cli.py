"""The ``syncer`` command line: parse, load config, call the engine, print.

Exit codes: 0 when every image succeeded, 1 when some failed, 2 for a usage
or configuration error (one line on stderr, never a traceback), and 128 plus
the signal's number when SIGINT (130) or SIGTERM (143) stopped a sync. With
sync flags and no subcommand (``syncer --auth a.yaml --images i.yaml``), the
command is ``sync``, so image-syncer command lines work unchanged.
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
from syncer.embedded import EmbeddedSync
from syncer.errors import ConfigError, SyncerError
from syncer.jobs import ImageResult
from syncer.logfmt import LogrusFormatter, go_duration
from syncer.manifest import PlatformFilter
from syncer.options import SyncOptions
from syncer.progress import ProgressBar, Stats, summary
from syncer.reference import validate_tag
from syncer.registry import deadline
from syncer.text import EscapeControls, escape

log = logging.getLogger("syncer")

#: What ``syncer --help`` says first.
DESCRIPTION = (
    "Copy container images between Docker Registry V2 / OCI registries, without a "
    "Docker daemon or disk. Reads image-syncer's config files and flags unchanged: "
    "with no subcommand, `syncer --auth a.yaml --images i.yaml` means `syncer sync ...`."
)
#: Words that are not a config file: they must reach the top-level parser.
_TOP_LEVEL = ("-h", "--help", "--version")

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


def add_success_image_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """image-syncer's ``--output-success-images FILE`` and ``--output-images-format``."""
    p.add_argument("--output-success-images", type=Path, metavar="FILE", help=what)
    p.add_argument(
        "--output-images-format",
        choices=("yaml", "json"),
        default="yaml",
        help="format of --output-success-images (default yaml)",
    )


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

    sync = sub.add_parser(
        "sync",
        help="sync images in this process (no Redis needed)",
        description="Copy the images an image-syncer config names, on threads in this "
        "process (no Redis needed). Exit 0 when all succeeded, 1 when some failed, "
        "2 for a usage or config error.",
    )
    add_config_arguments(sync)
    sync.add_argument(
        "--cache",
        type=Path,
        help=f"blob cache file (default {defaults.blob_cache_file()}); 'none' disables it",
    )
    add_success_image_arguments(
        sync, "write the images copied in this run as an --images file, as image-syncer does"
    )
    sync.add_argument(
        "--success-includes-unchanged",
        action="store_true",
        help="also list images that were already up to date in --output-success-images",
    )
    sync.add_argument(
        "--output", choices=("text", "json"), default="text", help="summary format on stdout"
    )
    sync.set_defaults(func=cmd_sync)

    from syncer import fleetcli

    fleetcli.add_parsers(sub, add_config_arguments)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    """The subcommand names ``parser`` knows."""
    names: set[str] = set()
    for action in parser._actions:  # argparse offers no public way to list them
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    return names


def setup_logging(log_file: Path | None, verbose: bool) -> None:
    """Log lines to stderr, or to ``--log FILE``."""
    handler: logging.Handler
    if log_file is not None:
        try:
            # Truncated per run and in logrus's format, as image-syncer writes it.
            handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--log {log_file}: {exc.strerror}") from None
        handler.setFormatter(LogrusFormatter())
    else:
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
    # The line image-syncer's FAQ tells users to grep for. N counts failed
    # images and failed rules; image-syncer counts its internal tasks, which
    # for a missing tag or a rule that cannot be listed is also one each.
    log.info(
        "Synchronization finished, %d tasks failed, cost %s.",
        stats.images.failed,
        go_duration(stats.elapsed),
    )
    if args.output_success_images:
        statuses = ("synced", "skipped") if args.success_includes_unchanged else ("synced",)
        data = success_images(stats.results, statuses)
        write_success_images(args.output_success_images, args.output_images_format, data)
    if args.output == "json":
        print(json.dumps(stats.report(), indent=2))
    elif args.output == "text":
        print(summary(stats))
    return EXIT_FAILED if stats.images.failed else EXIT_OK


def success_images(
    results: Sequence[ImageResult], statuses: Sequence[str] = ("synced",)
) -> dict[str, list[str]]:
    """image-syncer's success map: source -> list of destinations, for images copied.

    Like image-syncer, images that were already up to date are left out
    unless ``statuses`` includes ``skipped``. The file loads again as ``--images``.
    """
    out: dict[str, list[str]] = {}
    for r in results:
        if r.status in statuses:
            dests = out.setdefault(r.source, [])
            if r.dest not in dests:
                dests.append(r.dest)
    return dict(sorted(out.items()))


def write_success_images(path: Path, fmt: str, data: dict[str, list[str]]) -> None:
    """Write ``--output-success-images`` byte for byte as image-syncer's encoders do."""
    if fmt == "json":  # Go's json.Encoder: compact, sorted keys, one newline
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"
    else:  # yaml.v2: block style, sorted keys, sequences not indented
        text = yaml.safe_dump(data, default_flow_style=False, allow_unicode=True)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        log.error("cannot write %s: %s", path, exc.strerror)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one-line errors and exit codes, never a traceback for bad input."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] not in _TOP_LEVEL and words[0] not in subcommands(parser):
        words.insert(0, "sync")  # image-syncer's command line: sync flags, no subcommand
    args = parser.parse_args(words)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run a parsed command with one-line errors and syncer's exit codes."""
    try:
        setup_logging(getattr(args, "log", None), getattr(args, "verbose", False))
        return int(args.func(args))
    except ConfigError as exc:
        print(f"syncer: error: {escape(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except SyncerError as exc:
        print(f"syncer: error: {escape(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
