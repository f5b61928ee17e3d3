"""``syncer plans``: the recent plans, newest first, with their schedule and results."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from syncer.cli.exits import EXIT_OK
from syncer.cli.redisargs import connect, redis_arg


def add_history_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syncer plans``."""
    plans = sub.add_parser("plans", help="list recent plans with their schedule and results")
    redis_arg(plans)
    plans.add_argument("-n", "--limit", type=int, default=20, help="how many (default 20)")
    plans.add_argument("--schedule", default="", help="only the plans of this schedule")
    plans.add_argument(
        "--output", choices=("text", "json"), default="text", help="table or JSON on stdout"
    )
    plans.set_defaults(func=cmd_plans)


def when(epoch: float | None) -> str:
    """``2026-11-30 09:15:02Z``, or ``-``."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))


def cmd_plans(args: argparse.Namespace) -> int:
    """``syncer plans``."""
    from syncer.engine.progress import human_bytes
    from syncer.fleet.state.history import recent

    rows = recent(connect(args.redis), max(args.limit, 0), args.schedule)
    if args.output == "json":
        print(json.dumps([row.to_dict() for row in rows], indent=2))
        return EXIT_OK
    head = ("PLAN", "SCHEDULE", "STATE", "STARTED", "DURATION", "BYTES", "SYNCED", "UNCHANGED")
    table = [(*head, "FAILED")]
    for row in rows:
        d = row.to_dict()
        table.append(
            (
                row.plan,
                row.schedule or "-",
                row.state,
                when(row.started),
                f"{row.duration:.0f}s",
                human_bytes(d["bytes"]),
                str(d["synced"]),
                str(d["unchanged"]),
                str(d["failed"]),
            )
        )
    print_table(table)
    return EXIT_OK


def print_table(table: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
