"""``--dry-run``: resolve everything, HEAD the destination, and report; write nothing.

Rules with tag filters first get lines saying what each filter kept and
dropped, and why (:func:`filter_report`); ``plan --dry-run`` prints those too,
listing the tags with the planner's own credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from syncer.config.files import SyncConfig
from syncer.config.rules import Rule, quote_key
from syncer.config.tagfilters import Selection, TagFilters
from syncer.embedded.executor import EmbeddedSync
from syncer.engine.copypath import Resolved, resolve
from syncer.engine.expansion import select_tags
from syncer.engine.jobs import TagJob
from syncer.engine.progress import human_bytes
from syncer.errors import SyncerError, describe
from syncer.registry.credentials import Credentials
from syncer.registry.pool import ClientPool
from syncer.registry.retry import retrying
from syncer.text import escape


def filter_report(rules: Sequence[Rule], pool: ClientPool) -> list[str]:
    """What each filter of each filtered rule kept and dropped, and why; escaped."""
    lines: list[str] = []
    for rule in rules:
        if not rule.filters.active:
            continue
        head = f"filter {quote_key(rule.key)}:"
        try:
            # Tags outside the grammar are reported by the image lines.
            selection = select_tags(rule, pool, lambda _: None)
        except SyncerError as exc:
            lines.append(escape(f"{head} cannot list tags: {describe(exc)}"))
            continue
        lines += [escape(f"{head} {line}") for line in _steps(rule.filters, selection)]
    return lines


def plan_filter_report(config: SyncConfig) -> list[str]:
    """:func:`filter_report` for ``plan --dry-run``; no registry call without filters."""
    if not any(rule.filters.active for rule in config.rules):
        return []
    return filter_report(config.rules, ClientPool(Credentials(config.auth)))


def _steps(filters: TagFilters, selection: Selection) -> list[str]:
    n = selection.candidates
    lines = [f"{n} tag{'s' * (n != 1)} selected by the key"]
    for step in filters.steps():
        # Sorted: registries list tags in no promised order; the copy lines show pairings.
        dropped = sorted(
            (d for d in selection.dropped if d.step == step.split()[0]), key=lambda d: d.tag
        )
        by = f" (by {selection.order})" if step.startswith("latest") and selection.order else ""
        lines.append(f"{step} kept {n - len(dropped)} of {n}{by}")
        lines += [f"{step} dropped {d.tag}: {d.reason}" for d in dropped]
        n -= len(dropped)
    lines.append("kept " + (", ".join(sorted(selection.kept)) or "nothing"))
    return lines


def _missing(runner: EmbeddedSync, res: Resolved) -> list[tuple[str, int]]:
    dst_repo = res.job.dest.repo
    dst = runner.pool.for_repo(dst_repo)
    out = []
    for desc in res.blobs.values():
        if runner.cache.has(dst_repo.registry, dst_repo.path, desc.digest):
            continue
        if not retrying(
            partial(dst.blob_exists, dst_repo, desc.digest), what=f"HEAD blob {desc.digest[:19]}"
        ):
            out.append((desc.digest, max(desc.size, 0)))
    return out


def _one(runner: EmbeddedSync, job: TagJob) -> tuple[str, dict[str, int]]:
    try:
        res = resolve(
            job, runner.pool, force=runner.options.force, platforms=runner.options.platforms
        )
    except SyncerError as exc:
        return f"fail  {job.label}: {describe(exc)}", {}
    if res.skip:
        return f"skip  {job.label}: {res.skip}", {}
    missing = _missing(runner, res)
    note = f"; {res.note}" if res.note else ""
    line = (
        f"copy  {job.label}: {len(res.pushes)} manifest(s), {len(missing)} of "
        f"{len(res.blobs)} blobs missing, {human_bytes(sum(s for _, s in missing))}{note}"
    )
    return line, dict(missing)


@dataclass(frozen=True, slots=True)
class DryRun:
    """What ``sync --dry-run`` prints, and how many images the real run would fail."""

    text: str
    failed: int


def dry_run(runner: EmbeddedSync) -> DryRun:
    """The report of what ``sync`` would do, with byte totals."""
    filtered = filter_report(runner.config.rules, runner.pool)
    jobs = runner.expand()
    with ThreadPoolExecutor(runner.options.proc) as ex:
        rows = list(ex.map(lambda j: _one(runner, j), jobs))
    # Tags, skip notes and error reasons come from servers.
    images = [escape(line) for line, _ in rows]
    images += [escape(f"fail  {r.source}: {r.reason}") for r in runner.stats.results]
    unique: dict[str, int] = {}
    for _, blobs in rows:
        unique.update(blobs)
    copies = sum(1 for line in images if line.startswith("copy"))
    summary = (
        f"dry run: {copies} of {len(jobs)} images would be copied; "
        f"{len(unique)} blobs, {human_bytes(sum(unique.values()))} "
        f"({sum(unique.values())} bytes) to transfer "
        "(nothing was written)"
    )
    failed = sum(1 for line in images if line.startswith("fail"))
    return DryRun("\n".join([*filtered, *images, summary]), failed)
