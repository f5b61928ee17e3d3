"""``syncer verify``: prove a mirror matches its source; and the ``--prune`` flags.

Exit 0 when every tag is ``same``, 1 when anything drifted (or a prune was
refused), 2 for a usage or config error. ``--output json`` prints the
documented schema (:data:`syncer.engine.verifyrun.SCHEMA`; docs/verify-prune-webhook.md).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from syncer import defaults
from syncer.cli.args import go_int, load, sync_options
from syncer.cli.exits import EXIT_FAILED, EXIT_OK
from syncer.cli.referrerargs import add_referrer_arguments
from syncer.errors import ConfigError
from syncer.text import escape

# The engine, the registry client and requests load when a check runs, not
# when `syncer --version` builds this parser (issue #23).
if TYPE_CHECKING:
    from syncer.config.files import SyncConfig
    from syncer.engine.options import SyncOptions
    from syncer.engine.verify import Check
    from syncer.engine.verifyrun import Report
    from syncer.registry.pool import ClientPool

#: Columns of the human table (status, source, destination, detail).
_WIDTHS = (10, 44, 44)


def count(text: str) -> int:
    """A whole number of at least 0, for ``--prune-max``."""
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")


def add_prune_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """``--prune`` and ``--prune-max`` (sync, plan)."""
    p.add_argument(
        "--prune",
        action="store_true",
        help=f"{what} delete destination tags a repo-wide or regex rule's source no longer "
        "has (tag-list and digest rules never prune)",
    )
    p.add_argument(
        "--prune-max",
        type=count,
        default=None,
        metavar="N",
        help="refuse a prune that would delete more than N tags "
        f"(default {defaults.PRUNE_MAX}, env SYNCER_PRUNE_MAX)",
    )


def prune_limit(args: argparse.Namespace) -> int:
    """``--prune-max``, else ``$SYNCER_PRUNE_MAX``, else the default."""
    given = getattr(args, "prune_max", None)
    return defaults.prune_max() if given is None else int(given)


def prune_pass(
    config: SyncConfig,
    options: SyncOptions,
    pool: ClientPool,
    args: argparse.Namespace,
    *,
    delete: bool = False,
) -> Report:
    """The prune pass of ``sync --prune`` (after the copy), or what it would do (``--dry-run``)."""
    from syncer.engine.verifyrun import Prune, verify_config

    prune = Prune(prune_limit(args), delete)
    return verify_config(config, options, pool, prune=prune, images=False)


def add_verify_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``verify``."""
    p = sub.add_parser(
        "verify",
        help="check that every destination tag matches its source (HEAD requests only)",
        description="Resolve every rule as sync would and compare source and destination "
        "digests: each tag is same, missing, different, extra or unreadable. Exit 0 when "
        "all are same, 1 when anything drifted, 2 for a usage or config error.",
    )
    p.add_argument("config_file", nargs="?", type=Path, metavar="CONFIG", help="same as --config")
    p.add_argument("--config", type=Path, help="single file with auth and images")
    p.add_argument("--auth", type=Path, help="auth file (JSON or YAML)")
    p.add_argument("--images", type=Path, help="images rule file (JSON or YAML)")
    p.add_argument("--registry", help="default destination registry (env DEFAULT_REGISTRY)")
    p.add_argument("--namespace", help="default destination namespace (env DEFAULT_NAMESPACE)")
    p.add_argument(
        "-p", "--proc", type=go_int, default=defaults.PROC, help="concurrent checks (default 5)"
    )
    p.add_argument(
        "--os", action="append", default=[], metavar="OS[:VERSION]", help="as sync's --os"
    )
    p.add_argument(
        "--arch", action="append", default=[], metavar="ARCH[:VARIANT]", help="as sync's --arch"
    )
    add_referrer_arguments(p)
    p.add_argument(
        "--prune-max",
        type=count,
        default=None,
        metavar="N",
        help="say whether `sync --prune --prune-max N` would refuse (default "
        f"{defaults.PRUNE_MAX})",
    )
    p.add_argument("--all", action="store_true", help="also list the tags that are the same")
    p.add_argument("--output", choices=("text", "json"), default="text", help="report format")
    p.add_argument("--log", type=Path, metavar="FILE", help="write logs to FILE, not stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_verify, force=False, retries=0, dry_run=False)


def cmd_verify(args: argparse.Namespace) -> int:
    """``syncer verify``; an entry that does not parse is a bad config here (exit 2), not drift."""
    from syncer.engine.verifyrun import Prune, verify_config
    from syncer.registry import deadline
    from syncer.registry.credentials import Credentials
    from syncer.registry.pool import ClientPool

    config = load(args)
    if config.broken:
        more = f" (and {len(config.broken) - 1} more)" if len(config.broken) > 1 else ""
        raise ConfigError(config.broken[0].reason + more)
    options = sync_options(args)
    deadline.limits()
    pool = ClientPool(Credentials(config.auth), pool_size=options.proc)
    try:
        report = verify_config(config, options, pool, prune=Prune(prune_limit(args), False))
    finally:
        pool.close()
    if args.output == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report, args.all))
    return EXIT_FAILED if report.drifted or report.refused else EXIT_OK


def _cell(text: str, width: int) -> str:
    return escape(text).ljust(width)


def _detail(check: Check) -> str:
    if check.status == "different":
        return f"source {check.source_digest} destination {check.dest_digest}"
    if check.status == "extra":
        what = {"delete": "would prune", "kept": "", "deleted": "pruned", "failed": "prune failed"}
        head = " ".join(filter(None, [check.dest_digest, what.get(check.prune, "")]))
        return "; ".join(filter(None, [head, check.reason]))
    if check.status == "same":
        return check.dest_digest
    return check.reason or check.source_digest


def render(report: Report, show_same: bool = False) -> str:
    """The human table: one row per tag that is not the same (every row with ``show_same``)."""
    rows = [c for c in report.ordered() if show_same or c.status != "same"]
    lines = []
    if rows:
        head = ("STATUS", "SOURCE", "DESTINATION")
        lines.append("".join(h.ljust(w) for h, w in zip(head, _WIDTHS, strict=True)) + "DETAIL")
        for c in rows:
            cells = (c.status, c.source, c.dest)
            text = "".join(_cell(v, w) for v, w in zip(cells, _WIDTHS, strict=True))
            lines.append(f"{text}{escape(_detail(c))}".rstrip())
    lines.append(totals_line(report))
    if report.refused:
        lines.append(escape(report.refused))
    return "\n".join(lines)


def totals_line(report: Report) -> str:
    """``verify: 12 tags: 10 same, 1 missing, ...``."""
    totals = report.totals()
    n = sum(totals.values())
    from syncer.engine.verify import STATUSES

    parts = ", ".join(f"{totals[s]} {s}" for s in STATUSES)
    verdict = "the mirror matches" if not report.drifted else "the mirror drifted"
    return f"verify: {n} tag{'s' * (n != 1)}: {parts}; {verdict}"


def prune_lines(report: Report) -> Sequence[str]:
    """What ``--prune`` did or would do, one line per extra tag, then the refusal if any."""
    what = {"delete": "would prune", "deleted": "pruned", "kept": "kept", "failed": "prune failed"}
    lines = [
        escape(f"{what[c.prune]} {c.dest}" + (f": {c.reason}" if c.reason else ""))
        for c in report.ordered()
        if c.prune
    ]
    if report.refused:
        lines.append(escape(report.refused))
    return lines
