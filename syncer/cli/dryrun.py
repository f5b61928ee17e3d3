"""``--dry-run``: resolve everything, HEAD the destination, and report; write nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

from syncer.embedded import EmbeddedSync
from syncer.engine import Resolved, resolve
from syncer.errors import SyncerError, describe
from syncer.jobs import TagJob
from syncer.progress import human_bytes
from syncer.retry import retrying
from syncer.text import escape


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


def dry_run(runner: EmbeddedSync) -> str:
    """The report of what ``sync`` would do, with byte totals."""
    jobs = runner.expand()
    with ThreadPoolExecutor(runner.options.proc) as ex:
        rows = list(ex.map(lambda j: _one(runner, j), jobs))
    # Tags, skip notes and error reasons come from servers.
    lines = [escape(line) for line, _ in rows]
    lines += [escape(f"fail  {r.source}: {r.reason}") for r in runner.stats.results]
    unique: dict[str, int] = {}
    for _, blobs in rows:
        unique.update(blobs)
    copies = sum(1 for line in lines if line.startswith("copy"))
    lines.append(
        f"dry run: {copies} of {len(jobs)} images would be copied; "
        f"{len(unique)} blobs, {human_bytes(sum(unique.values()))} to transfer "
        "(nothing was written)"
    )
    return "\n".join(lines)
