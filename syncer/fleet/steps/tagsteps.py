"""The tag steps of the distributed mode: expand a rule, resolve an image, push it.

``workers/tasks.py`` decodes a task's message, applies the retry policy and
calls exactly one of these (blob copies: :mod:`syncer.fleet.steps.blobsteps`).
They are idempotent: a redelivered task re-checks the destination, keys its
work by digest, and bumps counters only once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from syncer import defaults, metrics
from syncer.config.rules import Rule
from syncer.engine.copypath import Resolved, push_with_recheck, resolve
from syncer.engine.expansion import NO_FILTER, expand_rule, unique_jobs
from syncer.engine.jobs import ImageResult, TagJob
from syncer.errors import (
    CancelledError,
    MessageError,
    StateError,
    SyncerError,
    describe,
    is_transient,
)
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.messages import EnqueueTags, ExpandRule, ImageRecord, Push, PushImage
from syncer.fleet.steps import referrersteps
from syncer.fleet.steps.context import FleetContext
from syncer.fleet.steps.enqueue import (
    enqueue_batch,
    enqueue_copy,
    enqueue_push,
    fan_out,
    send_batches,
)
from syncer.fleet.steps.results import fail_image, finish, finish_many
from syncer.oci.manifest import Descriptor, PlatformFilter
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository
from syncer.registry import waiting

log = logging.getLogger(__name__)


def enqueue_tags(fleet: FleetContext, msg: EnqueueTags) -> int:
    """Publish one chunk of a fan-out as ``sync_tags`` batches."""
    if fleet.plans.cancelled(msg.plan):
        return 0
    send_batches(fleet.dispatch, msg.plan, [TagJob.from_dict(job) for job in msg.jobs])
    return len(msg.jobs)


def expand(fleet: FleetContext, msg: ExpandRule) -> int:
    """List a repo-wide or regex rule's tags and fan out; return how many images."""
    plan = msg.plan
    if fleet.plans.cancelled(plan):
        return 0
    parsed = Rule.from_dict(msg.rule)
    listed: list[TagJob] = []
    bad: list[ImageResult] = []  # listed tags outside the grammar: never requested
    referrers = bool((fleet.plans.settings(plan).get("referrers") or {}).get("enabled"))
    for item in expand_rule(parsed, fleet.pool, referrers=referrers):
        if isinstance(item, ImageResult):
            bad.append(item)
        else:
            listed.append(item)
    jobs = unique_jobs(listed)
    fan_out(fleet.dispatch, plan, jobs)
    # Counted after the fan-out, in one step with the rule's once-token: a
    # worker killed before it fans out again on redelivery, and the rule's
    # pending count holds the plan open until then.
    total = len(jobs) + len(bad)
    fleet.ledger.count_once(
        plan, keys.once_expand(parsed.key), bad, tags_total=total, rules_pending=-1
    )
    return len(jobs)


def _options(fleet: FleetContext, plan: str) -> tuple[bool, PlatformFilter]:
    meta = fleet.plans.settings(plan)
    return bool(meta.get("force")), PlatformFilter.from_dict(meta.get("platforms"))


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An image after its resolve: ended (``outcome`` set), or waiting for ``missing``."""

    job: TagJob
    image: str
    outcome: str = ""
    missing: dict[str, Descriptor] = dataclasses.field(default_factory=dict)
    landed: tuple[str, ...] = ()
    #: A skipped image's result, settled by the caller (a batch settles all of them at once).
    skipped: ImageResult | None = None


def sync_tag(
    fleet: FleetContext, plan: str, job: TagJob, owner: str = "", referrer: str = ""
) -> str:
    """Resolve one image; skip it, push it, or fan out its missing blobs.

    ``owner`` (this task's id) names the blob claims, so a redelivered task
    gets them back. ``referrer`` says the image is a referrer (copied whole).
    The task has just found the plan live (``workers/tasks.py``), so the step
    does not ask Redis again: a plan cancelled since is noticed before the
    push (:func:`push_image`) or by the blob copies.
    """
    prep = _prepare(fleet, plan, job, referrer)
    if prep.skipped is not None:
        finish(fleet, plan, prep.image, prep.skipped, stored=False)
    if prep.outcome:
        return prep.outcome
    _hand_out_copies(fleet, plan, job.source.repo, job.dest.repo, prep.missing, owner)
    return _conclude(fleet, plan, prep, owner)


def sync_tags(
    fleet: FleetContext, plan: str, jobs: list[TagJob], owner: str
) -> tuple[Counter[str], list[tuple[TagJob, Exception]]]:
    """:func:`sync_tag` for several images: resolved at once, their copies handed out together.

    Up to :data:`defaults.TASK_THREADS` images are resolved at a time.
    The missing small blobs of all of them share ``copy_blobs`` batches, each
    claim named by ``owner`` as in :func:`sync_tag` (a redelivered batch gets
    its claims back). Returns the count of each outcome, and each image whose
    resolve raised, with its error, for the task to retry or record: the
    other images do not wait on it. A :class:`CancelledError` ends the batch.
    """
    prepared: list[_Prepared] = []
    errors: list[tuple[TagJob, Exception]] = []
    with ThreadPoolExecutor(defaults.TASK_THREADS, "sync_tags") as pool:
        futures = [pool.submit(_prepare, fleet, plan, job, "") for job in jobs]
        try:
            for job, future in zip(jobs, futures, strict=True):
                try:
                    prepared.append(future.result())
                except CancelledError:
                    raise
                except Exception as exc:
                    errors.append((job, exc))
        finally:
            for future in futures:
                future.cancel()
    # The batch's unchanged images are settled in one step.
    skipped = [(p.image, p.skipped) for p in prepared if p.skipped is not None]
    finish_many(fleet, plan, skipped, stored=False)
    waiting = [p for p in prepared if not p.outcome]
    groups: dict[tuple[Repository, Repository], dict[str, Descriptor]] = {}
    for p in waiting:
        groups.setdefault((p.job.source.repo, p.job.dest.repo), {}).update(p.missing)
    for (src, dst), missing in groups.items():
        _hand_out_copies(fleet, plan, src, dst, missing, owner)
    outcomes = Counter(p.outcome for p in prepared if p.outcome)
    outcomes.update(_conclude(fleet, plan, p, owner) for p in waiting)
    return outcomes, errors


def _prepare(fleet: FleetContext, plan: str, job: TagJob, referrer: str) -> _Prepared:
    """Resolve an image and end it if nothing needs copying; else register it as waiting."""
    with waiting.scope():  # the image's wait budget, for this task
        return _prepare_within(fleet, plan, job, referrer)


def _prepare_within(fleet: FleetContext, plan: str, job: TagJob, referrer: str) -> _Prepared:
    force, platforms = _options(fleet, plan)
    referrersteps.admit(fleet, plan, job, referrer)
    res = resolve(job, fleet.pool, force=force, platforms=NO_FILTER if referrer else platforms)
    referrersteps.follow(fleet, plan, job, res, referrer)
    image = keys.image_id(str(job.source), str(job.dest))
    if res.skip:
        result = ImageResult(str(job.source), str(job.dest), "skipped", res.skip, rule=job.rule)
        return _Prepared(job, image, "skipped", skipped=result)
    missing = _missing_blobs(fleet, plan, res)
    record = dataclasses.replace(image_record(res, missing), referrer=referrer)
    if not fleet.board.save_image(plan, image, record.to_body()):
        stored = ImageRecord.from_body(fleet.board.load_image(plan, image)).job
        if stored.get("rule", job.rule) != job.rule:
            # Another rule already handles this (source, destination); settle
            # this rule's count instead of waiting for blobs it does not own.
            fleet.ledger.count_once(plan, keys.once_finished(image, job.rule), tags_skipped=1)
            return _Prepared(job, image, "duplicate")
    if not missing:
        push_image(fleet, PushImage(plan, image, str(job.dest)), checked=False)
        return _Prepared(job, image, "pushed")
    landed = fleet.board.wait_for(plan, image, list(missing))
    return _Prepared(job, image, missing=missing, landed=tuple(landed))


def _conclude(fleet: FleetContext, plan: str, prep: _Prepared, owner: str) -> str:
    """After its copies were handed out: fail the image, or push it if they all landed."""
    reason = fleet.board.blob_failure(plan, list(prep.missing))
    if reason:
        fail_image(fleet, plan, prep.image, reason)
        return "failed"
    for key in prep.landed:
        if fleet.board.remove_pending(plan, prep.image, key, owner):
            return push_here(fleet, plan, prep.image)
    return "waiting"


def _missing_blobs(fleet: FleetContext, plan: str, res: Resolved) -> dict[str, Descriptor]:
    """The image's blobs the shared cache does not know at the destination, by blob key.

    Counted in one step: every blob's bytes into the total once per
    (registry, digest), as :meth:`syncer.engine.progress.Stats.reference`
    (the distinct blobs the plan's images reference, however many
    repositories share one); and each blob already there as settled
    (``exists``, its bytes once per registry) and seen (once per repository).
    """
    dst = res.job.dest.repo
    cached = fleet.cache.known(dst.registry, dst.path, list(res.blobs))
    tokens: dict[str, dict[str, int]] = {}
    for desc in res.blobs.values():
        size = max(desc.size, 0)
        tokens[keys.once_bytes(dst.registry, desc.digest)] = {"bytes_total": size}
        if desc.digest in cached:
            tokens[keys.once_settled(dst.registry, desc.digest)] = {"bytes_skipped": size}
            seen = keys.once_seen(keys.blob_key(str(dst), desc.digest))
            tokens[seen] = {"blobs_total": 1, "blobs_skipped": 1}
    fleet.ledger.count_each(plan, tokens)
    for _ in cached:
        metrics.recorder().blob(res.job.source.repo.registry, dst.registry, "exists")
    return {
        keys.blob_key(str(dst), d.digest): d for d in res.blobs.values() if d.digest not in cached
    }


def _hand_out_copies(
    fleet: FleetContext,
    plan: str,
    src: Repository,
    dst: Repository,
    missing: dict[str, Descriptor],
    owner: str,
) -> None:
    """Claim each missing blob once per plan and enqueue its copy, largest first.

    Blobs of at most :func:`defaults.batch_blob` bytes go out together as
    ``copy_blobs`` tasks of at most :data:`defaults.BATCH_BYTES` and
    :data:`defaults.BATCH_COUNT` blobs; every other blob gets a ``copy_blob``
    task.
    """
    unpublished: dict[str, Descriptor] = {}
    batch: list[Descriptor] = []
    batch_bytes, largest = 0, defaults.batch_blob()
    # Until a claim's task is published, any failure gives it back, so the
    # retried task (or another image's) can claim and enqueue it again.
    with _unclaimed_on_error(fleet, plan, unpublished):
        ordered = sorted(missing.items(), key=lambda kv: -kv[1].size)
        got = fleet.board.claim_blobs(plan, [key for key, _ in ordered], owner)
        claimed = [item for item, mine in zip(ordered, got, strict=True) if mine]
        unpublished.update(claimed)  # claimed, not yet published
        fleet.ledger.count_each(
            plan, {keys.once_seen(key): {"blobs_total": 1} for key, _ in claimed}
        )
        for key, desc in claimed:
            if not (largest > 0 and 0 <= desc.size <= min(largest, defaults.BATCH_BYTES)):
                enqueue_copy(fleet, plan, src, dst, desc)
                del unpublished[key]
                continue
            full = len(batch) >= defaults.BATCH_COUNT
            if batch and (full or batch_bytes + desc.size > defaults.BATCH_BYTES):
                _publish_batch(fleet, plan, src, dst, batch, unpublished)
                batch, batch_bytes = [], 0
            batch.append(desc)
            batch_bytes += desc.size
        if batch:
            _publish_batch(fleet, plan, src, dst, batch, unpublished)


def _publish_batch(
    fleet: FleetContext,
    plan: str,
    src: Repository,
    dst: Repository,
    batch: list[Descriptor],
    unpublished: dict[str, Descriptor],
) -> None:
    enqueue_batch(fleet, plan, src, dst, batch)
    for desc in batch:
        unpublished.pop(keys.blob_key(str(dst), desc.digest), None)


@contextmanager
def _unclaimed_on_error(
    fleet: FleetContext, plan: str, unpublished: dict[str, Descriptor]
) -> Iterator[None]:
    """On any error, give back the claims in ``unpublished`` (as it stands then)."""
    try:
        yield
    except Exception:
        for key in list(unpublished):
            fleet.board.release_claim(plan, key)
        raise


def image_record(res: Resolved, missing: dict[str, Descriptor]) -> ImageRecord:
    """What ``push_image`` needs of a resolved image, to store while its blobs are copied."""
    return ImageRecord(
        job=res.job.to_dict(),
        note=res.note,
        pushes=tuple(Push(ref, m.media_type, m.digest, m.body) for ref, m in res.pushes),
        blobs=tuple(res.blobs.values()),
        bytes=sum(max(d.size, 0) for d in missing.values()),
    )


def resolved_from(rec: ImageRecord) -> Resolved:
    """The resolved image a stored record describes (the inverse of :func:`image_record`)."""
    return Resolved(
        TagJob.from_dict(rec.job),
        note=rec.note,
        pushes=[(p.ref, RawManifest(p.body, p.media_type, p.digest)) for p in rec.pushes],
        blobs={d.digest: d for d in rec.blobs},
    )


def push_here(fleet: FleetContext, plan: str, image: str) -> str:
    """Push an image whose last blob the caller's task landed, in that task.

    A ``push_image`` task of its own cost the fleet a dozen Redis commands
    and a Celery round trip per image. The push is as safe here: the task
    that removed the image's last pending blob is its pusher, and its
    redelivery (after ``kill -9`` mid-push) is the pusher again until the
    image is final. An error that may heal hands the push to a
    ``push_image`` task, with its own retries; any other fails the image, not
    the blob its peers wait for. A Redis error or a cancellation propagates.
    """
    try:
        return push_image(fleet, PushImage(plan, image, ""), checked=False)
    except (CancelledError, StateError):
        raise
    except SyncerError as exc:
        if is_transient(exc):
            enqueue_push(fleet, plan, image, _dest_of(fleet, plan, image))
            return "handed on"
        fail_image(fleet, plan, image, describe(exc))
    except Exception as exc:  # a bug fails this image alone
        log.exception("push of image %s failed", image)
        fail_image(fleet, plan, image, f"internal error: {type(exc).__name__}")
    return "failed"


def _dest_of(fleet: FleetContext, plan: str, image: str) -> str:
    """The image's destination, for people reading Flower ("" for a record that does not decode)."""
    try:
        return ImageRecord.from_body(fleet.board.load_image(plan, image)).dest
    except MessageError:
        return ""


def push_image(fleet: FleetContext, msg: PushImage, *, checked: bool = True) -> str:
    """Push an image whose blobs have all landed: children first, the tag last.

    ``checked``: the caller has just found the plan live (the task did), so
    it is not asked again. An image whose record is gone was settled already
    (its record is dropped then) or its plan has ended: nothing to do.
    """
    plan, image = msg.plan, msg.image
    if not checked and fleet.plans.cancelled(plan):
        return "cancelled"
    body = fleet.board.load_image(plan, image)
    if not body:
        return "settled"
    rec = ImageRecord.from_body(body)
    res = resolved_from(rec)
    reason = fleet.board.blob_failure(
        plan, [keys.blob_key(str(res.job.dest.repo), d) for d in res.blobs]
    )
    if reason:
        fail_image(fleet, plan, image, reason)
        return "failed"
    referrersteps.admit(fleet, plan, res.job, rec.referrer)
    with waiting.scope():  # the image's wait budget, for this task
        push_with_recheck(res, fleet.pool, fleet.cache)
    referrersteps.pushed(fleet, plan, res.job, rec.referrer)
    finish(
        fleet,
        plan,
        image,
        ImageResult(
            str(res.job.source),
            str(res.job.dest),
            "synced",
            res.note,
            bytes=rec.bytes,
            rule=res.job.rule,
        ),
    )
    return "synced"
