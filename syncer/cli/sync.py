"""``syncer sync``: copy the images a config names, on threads in this process."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from syncer import defaults
from syncer.cli.args import (
    add_config_arguments,
    add_success_image_arguments,
    images_format,
    load,
    sync_options,
)
from syncer.cli.exits import EXIT_FAILED, EXIT_OK, by_signal
from syncer.cli.verify import add_prune_arguments
from syncer.errors import SyncerError, describe

# The engine, the registry client and requests load only when a sync runs:
# `syncer --version` and the other commands build this parser too.
if TYPE_CHECKING:
    from syncer.config.files import SyncConfig
    from syncer.engine.cache import BlobCache
    from syncer.engine.jobs import ImageResult
    from syncer.layout import record
    from syncer.layout.client import LayoutClient

log = logging.getLogger("syncer")


def add_sync_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``sync``."""
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
    add_prune_arguments(sync, "after syncing,")
    sync.add_argument(
        "--since",
        type=Path,
        metavar="FILE",
        help="export record of an earlier export: leave out of oci: destinations the blobs "
        "it carried",
    )
    sync.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="write this export's record (every blob its oci: destinations hold) to FILE",
    )
    sync.set_defaults(func=cmd_sync)


def open_cache(path: Path | None) -> BlobCache:
    """The embedded blob cache: a file, or nothing with ``--cache none``."""
    from syncer.engine.cache import FileBlobCache, MemoryBlobCache

    if path is not None and str(path) == "none":
        return MemoryBlobCache()
    return FileBlobCache(path or defaults.blob_cache_file())


def cmd_sync(args: argparse.Namespace) -> int:
    """``syncer sync``."""
    from syncer.cli.dryrun import dry_run
    from syncer.cli.interrupts import Interrupts, interrupted_line
    from syncer.cli.logfmt import go_duration
    from syncer.cli.verify import prune_lines, prune_pass
    from syncer.embedded.executor import EmbeddedSync
    from syncer.engine.progress import ProgressBar, summary
    from syncer.layout import record
    from syncer.layout.client import LayoutClient
    from syncer.registry import deadline
    from syncer.registry.credentials import Credentials
    from syncer.registry.pool import ClientPool

    config = load(args)
    options = sync_options(args)
    fmt = images_format(args.output_images_format)
    deadline.limits()  # a bad $SYNCER_* deadline fails here, as a usage error
    stop = threading.Event()
    previous = record.load(args.since) if args.since else None
    layouts = LayoutClient(since=frozenset(previous.blobs) if previous else frozenset())
    pool = ClientPool(Credentials(config.auth), pool_size=options.proc, layouts=layouts)
    runner = EmbeddedSync(
        config, options, cache=open_cache(args.cache), stop=stop.is_set, pool=pool
    )
    # image-syncer's own command line (cli/imagesyncer.py) has no --prune.
    prune = getattr(args, "prune", False)
    if args.dry_run:
        try:
            would_do = dry_run(runner)
            print(would_do.text)
            refused = False
            if prune:
                would = prune_pass(config, options, runner.pool, args)
                print("\n".join(prune_lines(would)))
                refused = would.prune_failed
        finally:
            layouts.release()
        # The real run's exit code: 1 when it would fail an image or refuse the prune.
        return EXIT_FAILED if would_do.failed or refused else EXIT_OK

    signals = Interrupts(stop)
    try:
        with signals, ProgressBar(runner.stats):
            stats = runner.run()
    except KeyboardInterrupt:
        layouts.release()  # an archive is packed only by a run that ends
        signum = signals.signum or signal.SIGINT
        print(interrupted_line(signum, runner.stats), file=sys.stderr)
        return by_signal(signum)
    failed = stats.images.failed + _finish_layouts(args, config, layouts, previous)
    # The line image-syncer's FAQ tells users to grep for. N counts failed
    # images and failed rules; image-syncer counts its internal tasks, which
    # for a missing tag or a rule that cannot be listed is also one each.
    log.info(
        "Synchronization finished, %d tasks failed, cost %s.",
        stats.images.failed,
        go_duration(stats.elapsed),
    )
    pruned = prune_pass(config, options, runner.pool, args, delete=True) if prune else None
    if pruned is not None and args.output == "text":
        for line in prune_lines(pruned):
            log.info("%s", line)
    written = True
    if args.output_success_images:
        statuses = ("synced", "skipped") if args.success_includes_unchanged else ("synced",)
        data = success_images(stats.results, statuses)
        written = write_success_images(args.output_success_images, fmt, data)
    if args.output == "json":
        report = stats.report()
        if pruned is not None:
            report["prune"] = pruned.prune_dict()
        print(json.dumps(report, indent=2))
    elif args.output == "text":
        print(summary(stats))
    prune_failed = pruned is not None and pruned.prune_failed
    # A success file that could not be written fails the run, as in image-syncer:
    # a cron job that feeds it back would otherwise read a stale one.
    return EXIT_FAILED if failed or not written or prune_failed else EXIT_OK


def _finish_layouts(
    args: argparse.Namespace,
    config: SyncConfig,
    layouts: LayoutClient,
    previous: record.ExportRecord | None,
) -> int:
    """Pack archives and write ``--record``; the number of failures (logged)."""
    from syncer.layout import record

    try:
        layouts.close()
        if args.record:
            dests = [d.repo for rule in config.rules for d in rule.destinations if d.repo.is_layout]
            done = record.collect(layouts, dests, previous, args.since)
            record.save(args.record, done)
            log.info("export record: %d blobs in %s", len(done.blobs), args.record)
    except SyncerError as exc:
        log.error("%s", describe(exc))
        return 1
    return 0


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


def write_success_images(path: Path, fmt: str, data: dict[str, list[str]]) -> bool:
    """Write ``--output-success-images`` byte for byte as image-syncer's encoders do.

    Returns whether the file was written (a failure is logged).
    """
    import yaml

    if fmt == "json":  # Go's json.Encoder: compact, sorted keys, one newline
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"
    else:  # yaml.v2: block style, sorted keys, sequences not indented
        text = yaml.safe_dump(data, default_flow_style=False, allow_unicode=True)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        log.error("cannot write %s: %s", path, exc.strerror)
        return False
    return True
