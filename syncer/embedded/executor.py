"""The embedded executor: the whole engine on threads in one process, no Redis.

A round has three steps:

1. resolve every image (HEADs first, then manifest GETs only where needed);
2. group the missing blobs by (destination registry, digest), so a layer that
   many images share is streamed once and mounted everywhere else, and run
   the groups largest first on ``proc`` threads, so the longest transfer is
   never left to the end;
3. push an image's manifests the moment its last blob has landed.

Images that failed with a transient error are tried again in later rounds
(image-syncer's ``--retries``); permanent errors are reported once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from syncer import defaults
from syncer.config.files import SyncConfig
from syncer.config.rules import Rule
from syncer.embedded.feed import feed
from syncer.engine.cache import BlobCache
from syncer.engine.copypath import Resolved, copy_and_record, push_with_recheck, resolve
from syncer.engine.expansion import NO_FILTER, rule_failures
from syncer.engine.jobs import ImageResult, TagJob
from syncer.engine.options import SyncOptions
from syncer.engine.progress import Stats
from syncer.engine.referrers import Follower, ReferrerPolicy, rule_policies
from syncer.engine.transfer import BlobCopier
from syncer.errors import SyncerError, describe, is_transient
from syncer.layout.client import LayoutClient
from syncer.oci.manifest import Descriptor
from syncer.oci.reference import Repository
from syncer.registry import waiting
from syncer.registry.credentials import Credentials
from syncer.registry.pool import ClientPool
from syncer.registry.waiting import WaitBudget

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Image:
    resolved: Resolved
    #: What the image may still spend waiting on each registry (its blobs share it).
    budget: WaitBudget
    waits: set[tuple[Repository, str]] = field(default_factory=set)
    error: str = ""
    transient: bool = False
    moved: int = 0


@dataclass(slots=True)
class _Round:
    """One pass over the images: what waits for which blob, and what to retry."""

    last: bool
    images: list[_Image] = field(default_factory=list)
    waiters: dict[tuple[Repository, str], list[_Image]] = field(default_factory=dict)
    retry: list[TagJob] = field(default_factory=list)


@dataclass(slots=True)
class _Group:
    desc: Descriptor
    source: Repository
    #: The wait budget of the first image that needs the blob.
    budget: WaitBudget
    targets: list[Repository] = field(default_factory=list)


@contextmanager
def _threads(count: int, name: str) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that, when left by an exception (Ctrl-C), cancels what is still queued."""
    ex = ThreadPoolExecutor(count, thread_name_prefix=name)
    try:
        yield ex
        ex.shutdown(wait=True)
    except BaseException:
        # Waiting for every queued image would take as long as the whole sync:
        # drop them, and wait only for the running ones, which an interrupt
        # has already cut off.
        ex.shutdown(wait=True, cancel_futures=True)
        raise


class EmbeddedSync:
    """Runs a whole config in this process."""

    def __init__(
        self,
        config: SyncConfig,
        options: SyncOptions,
        *,
        cache: BlobCache,
        stats: Stats | None = None,
        pool: ClientPool | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config, self.options, self.cache = config, options, cache
        self.stats = stats or Stats()
        self.pool = pool or ClientPool(
            Credentials(config.auth), pool_size=options.proc, layouts=LayoutClient()
        )
        self.stop = stop
        self._lock = threading.Lock()
        #: Wait budgets of the images to try again next round.
        self._budgets: dict[TagJob, WaitBudget] = {}
        policy = ReferrerPolicy(options.referrers, options.referrer_types)
        self.referrers = Follower(self.pool, policy, rule_policies(config.rules), marks=cache)

    # -- top level -----------------------------------------------------------------
    def jobs(self) -> Generator[TagJob, None, None]:
        """Every image the config selects, as its rules are expanded; failures are recorded.

        An images entry the config could not read (``config.broken``) fails
        its own images here, once, and the other rules run.
        """
        for bad in self.config.broken:
            log.error("failed %s: %s", bad.key, bad.reason)
            for written in bad.destinations:
                self._failed_early(
                    ImageResult(bad.key, written, "failed", bad.reason, rule=bad.key)
                )
        return feed(
            self.config.rules,
            self.pool,
            threads=self.options.proc,
            failed=self._failed_early,
            rule_failed=self._rule_failed,
            stop=self.stop,
            referrers=self.options.referrers,
        )

    def expand(self) -> list[TagJob]:
        """Every image the config selects, all listed first (``--dry-run``)."""
        return list(self.jobs())

    def run(self) -> Stats:
        """Sync everything; return the stats with one result per image."""
        listing = self.jobs()
        jobs: Iterable[TagJob] = self._counted(listing)
        try:
            for attempt in range(self.options.retries + 1):
                last = attempt == self.options.retries
                retry = self._round(jobs, last)
                if not retry:
                    break
                log.info("retrying %d image(s) that failed transiently", len(retry))
                jobs = retry
        finally:
            listing.close()  # a round cut short must not leave listing threads waiting
        self.cache.flush()
        self.stats.finish()
        return self.stats

    def _counted(self, jobs: Iterator[TagJob]) -> Iterator[TagJob]:
        for job in jobs:
            self.stats.add("images", "total")
            yield job

    def _failed_early(self, result: ImageResult) -> None:
        """A rule that could not be expanded, or a listed tag that is not a tag."""
        self.stats.add("images", "total")
        self._finish(result)

    def _rule_failed(self, rule: Rule, exc: SyncerError) -> None:
        log.error("failed %s: %s", rule.key, describe(exc))
        for result in rule_failures(rule, describe(exc)):
            self._failed_early(result)

    # -- one round -----------------------------------------------------------------
    def _round(self, jobs: Iterable[TagJob], last: bool) -> list[TagJob]:
        rnd = _Round(last)
        # Resolve as jobs arrive, a few per thread ahead, so a long listing
        # never becomes a long list of futures.
        window = threading.BoundedSemaphore(self.options.proc * 4)
        bugs: list[BaseException] = []

        def done(fut: Future[None]) -> None:
            window.release()
            if not fut.cancelled() and fut.exception() is not None:
                bugs.append(fut.exception())  # type: ignore[arg-type]

        with _threads(self.options.proc, "resolve") as ex:
            for job in jobs:
                window.acquire()
                ex.submit(self._resolve, job, rnd).add_done_callback(done)
        if bugs:
            raise bugs[0]
        groups = self._group(rnd)
        with _threads(self.options.proc, "blob") as ex:
            for img in rnd.images:
                if not img.waits:
                    ex.submit(self._complete, img, rnd)
            order = sorted(groups.values(), key=lambda g: g.desc.size, reverse=True)
            for group in order:
                ex.submit(self._copy_group, group, rnd)
        return rnd.retry

    def _resolve(self, job: TagJob, rnd: _Round) -> None:
        # A job tried again in a later round goes on with what it has left.
        with self._lock:
            budget = self._budgets.pop(job, None) or WaitBudget.fresh()
        with waiting.scope(budget):
            self._resolve_within(job, rnd, budget)

    def _resolve_within(self, job: TagJob, rnd: _Round, budget: WaitBudget) -> None:
        try:
            self.referrers.admit(job)  # a referrer of an image past its cap fails here
            # A referrer is copied whole: an artifact has no platform to filter by.
            platforms = NO_FILTER if self.referrers.is_referrer(job) else self.options.platforms
            res = resolve(job, self.pool, force=self.options.force, platforms=platforms)
        except SyncerError as exc:
            if self._fail(job, exc, rnd.last):
                self._later(job, rnd, budget)
            return
        if not self._follow(job, res, rnd, budget):
            return
        if res.skip:
            self._finish(
                ImageResult(str(job.source), str(job.dest), "skipped", res.skip, rule=job.rule)
            )
            log.info("skipped %s: %s", job.label, res.skip)
            return
        with self._lock:
            rnd.images.append(_Image(res, budget))
            resolved = len(rnd.images)
        if resolved % defaults.RESOLVE_REPORT_EVERY == 0:
            # Images are tagged only once every image of the round is resolved
            # (blobs they share are copied once); say how far that has got.
            log.info("resolved %d images to copy so far", resolved)

    def _follow(self, job: TagJob, res: Resolved, rnd: _Round, budget: WaitBudget) -> bool:
        """Resolve the image's referrers as images of this round; False if finding them failed."""
        try:
            found = self.referrers.follow(job, res)
        except SyncerError as exc:
            if self._fail(job, exc, rnd.last):
                self._later(job, rnd, budget)
            return False
        for ref in found:
            self.stats.add("images", "total")
            self._resolve(ref, rnd)
        return True

    def _group(self, rnd: _Round) -> dict[tuple[str, str], _Group]:
        groups: dict[tuple[str, str], _Group] = {}
        for img in rnd.images:
            dst = img.resolved.job.dest.repo
            for desc in img.resolved.blobs.values():
                self.stats.reference(dst.registry, desc.digest, desc.size)
                if self.cache.has(dst.registry, dst.path, desc.digest):
                    self.stats.add("blobs", "skipped")
                    self.stats.settle(dst.registry, desc.digest, desc.size, "exists")
                    continue
                img.waits.add((dst, desc.digest))
                rnd.waiters.setdefault((dst, desc.digest), []).append(img)
                group = groups.setdefault(
                    (dst.api_host, desc.digest),
                    _Group(desc, img.resolved.job.source.repo, img.budget),
                )
                if dst not in group.targets:
                    group.targets.append(dst)
                    self.stats.add("blobs", "total")
            self.stats.add("blobs", "total", len(img.resolved.blobs) - len(img.waits))
        return groups

    def _copy_group(self, group: _Group, rnd: _Round) -> None:
        with waiting.scope(group.budget):
            self._copy_within(group, rnd)

    def _copy_within(self, group: _Group, rnd: _Round) -> None:
        src = self.pool.for_repo(group.source)
        done: list[Repository] = []
        for target in group.targets:
            key = (target, group.desc.digest)
            try:
                copier = BlobCopier(
                    src,
                    self.pool.for_repo(target),
                    on_bytes=self.stats.moved,
                    stop=self.stop,
                    chunked_threshold=self.options.chunked_threshold,
                    upload_chunk=self.options.upload_chunk,
                )
                outcome = copy_and_record(
                    copier, self.cache, group.source, target, group.desc, also=done
                )
            except SyncerError as exc:
                if self.stop():
                    return  # interrupted: the image is reported as unfinished
                log.warning(
                    "blob %s -> %s failed: %s", group.desc.digest[:19], target, describe(exc)
                )
                self.stats.add("blobs", "failed")
                if rnd.last or not is_transient(exc):
                    self.stats.settle(target.registry, group.desc.digest, group.desc.size, "failed")
                self._blob_landed(key, rnd, exc)
                continue
            done.append(target)
            self.stats.add("blobs", "skipped" if outcome == "exists" else "done")
            self.stats.settle(target.registry, group.desc.digest, group.desc.size, outcome)
            if outcome == "mounted":
                with self._lock:
                    self.stats.mounted += 1
            self._blob_landed(key, rnd, None, group.desc.size if outcome == "copied" else 0)

    def _blob_landed(
        self, key: tuple[Repository, str], rnd: _Round, exc: SyncerError | None, moved: int = 0
    ) -> None:
        ready: list[_Image] = []
        with self._lock:
            for img in rnd.waiters.get(key, ()):
                if key not in img.waits:
                    continue
                img.waits.discard(key)
                img.moved += moved
                if exc is not None and not img.error:
                    img.error, img.transient = describe(exc), is_transient(exc)
                if not img.waits:
                    ready.append(img)
        for img in ready:
            self._complete(img, rnd)

    def _complete(self, img: _Image, rnd: _Round) -> None:
        with waiting.scope(img.budget):
            self._complete_within(img, rnd)

    def _complete_within(self, img: _Image, rnd: _Round) -> None:
        job = img.resolved.job
        if self.stop():
            return  # interrupted: tag nothing more
        if img.error:
            if img.transient and not rnd.last:
                self._later(job, rnd, img.budget)
                return
            self._finish(
                ImageResult(
                    str(job.source),
                    str(job.dest),
                    "failed",
                    img.error,
                    rule=job.rule,
                    transient=img.transient,
                )
            )
            log.error("failed %s: %s", job.label, img.error)
            return
        try:
            self.referrers.admit(job)  # its image may have passed its cap since the resolve
            push_with_recheck(
                img.resolved, self.pool, self.cache, on_bytes=self.stats.moved, stop=self.stop
            )
            self.referrers.pushed(job)
        except SyncerError as exc:
            if self._fail(job, exc, rnd.last):
                self._later(job, rnd, img.budget)
            return
        note = f" ({img.resolved.note})" if img.resolved.note else ""
        self._finish(
            ImageResult(str(job.source), str(job.dest), "synced", bytes=img.moved, rule=job.rule)
        )
        log.info("synced %s%s", job.label, note)

    # -- bookkeeping -----------------------------------------------------------------
    def _later(self, job: TagJob, rnd: _Round, budget: WaitBudget) -> None:
        """Try ``job`` again next round, with what is left of its wait budget."""
        with self._lock:
            rnd.retry.append(job)
            self._budgets[job] = budget

    def _fail(self, job: TagJob, exc: SyncerError, last: bool) -> bool:
        """Record a failure, or return True if the image should be retried."""
        if self.stop():
            return False  # interrupted: the image is reported as unfinished
        if is_transient(exc) and not last:
            return True
        self._finish(
            ImageResult(
                str(job.source),
                str(job.dest),
                "failed",
                describe(exc),
                rule=job.rule,
                transient=is_transient(exc),
            )
        )
        log.error("failed %s: %s", job.label, describe(exc))
        return False

    def _finish(self, result: ImageResult) -> None:
        self.stats.record(result)
