"""The tag steps of the distributed mode: expand a rule, resolve an image, push it.

``workers/tasks.py`` decodes a task's message, applies the retry policy and
calls exactly one of these (blob copies: :mod:`syncer.fleet.blobsteps`).
They are idempotent: a redelivered task re-checks the destination, keys its
work by digest, and bumps counters only once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from syncer import defaults, metrics
from syncer.engine import Resolved, push_with_recheck, resolve
from syncer.expansion import NO_FILTER, expand_rule, unique_jobs
from syncer.fleet import keys, referrersteps
from syncer.fleet.context import FleetContext
from syncer.fleet.enqueue import (
    enqueue_batch,
    enqueue_copy,
    enqueue_push,
    fan_out,
    send,
    sync_tag_message,
)
from syncer.fleet.messages import EnqueueTags, ExpandRule, ImageRecord, Push, PushImage
from syncer.fleet.results import fail_image, finish
from syncer.jobs import ImageResult, TagJob
from syncer.manifest import Descriptor, PlatformFilter
from syncer.registry.models import RawManifest
from syncer.rules import Rule


def enqueue_tags(fleet: FleetContext, msg: EnqueueTags) -> int:
    """Publish one chunk of a fan-out."""
    if fleet.plans.cancelled(msg.plan):
        return 0
    for job in msg.jobs:
        send(fleet.dispatch, sync_tag_message(msg.plan, TagJob.from_dict(job)))
    return len(msg.jobs)


def expand(fleet: FleetContext, msg: ExpandRule) -> int:
    """List a repo-wide or regex rule's tags and fan out; return how many images."""
    plan = msg.plan
    if fleet.plans.cancelled(plan):
        return 0
    parsed = Rule.from_dict(msg.rule)
    listed: list[TagJob] = []
    bad: list[ImageResult] = []  # listed tags outside the grammar: never requested
    for item in expand_rule(parsed, fleet.pool):
        if isinstance(item, ImageResult):
            bad.append(item)
        else:
            listed.append(item)
    jobs = unique_jobs(listed)
    fan_out(fleet.dispatch, plan, jobs)
    if fleet.plans.once(plan, keys.once_expand(parsed.key)):
        fleet.plans.bump(plan, tags_total=len(jobs) + len(bad), rules_pending=-1)
        for result in bad:
            fleet.plans.record(plan, result)
    return len(jobs)


def _options(fleet: FleetContext, plan: str) -> tuple[bool, PlatformFilter]:
    meta = fleet.plans.settings(plan)
    return bool(meta.get("force")), PlatformFilter.from_dict(meta.get("platforms"))


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
    force, platforms = _options(fleet, plan)
    res = resolve(job, fleet.pool, force=force, platforms=NO_FILTER if referrer else platforms)
    referrersteps.follow(fleet, plan, job, res, referrer)
    image = keys.image_id(str(job.source), str(job.dest))
    if res.skip:
        finish(
            fleet,
            plan,
            image,
            ImageResult(str(job.source), str(job.dest), "skipped", res.skip, rule=job.rule),
        )
        return "skipped"
    missing = _missing_blobs(fleet, plan, res)
    record = dataclasses.replace(image_record(res, missing), referrer=referrer)
    if not fleet.board.save_image(plan, image, record.to_body()):
        stored = ImageRecord.from_body(fleet.board.load_image(plan, image)).job
        if stored.get("rule", job.rule) != job.rule:
            # Another rule already handles this (source, destination); settle
            # this rule's count instead of waiting for blobs it does not own.
            if fleet.plans.once(plan, keys.once_finished(image, job.rule)):
                fleet.plans.bump(plan, tags_skipped=1)
            return "duplicate"
    if not missing:
        push_image(fleet, PushImage(plan, image, str(job.dest)))
        return "pushed"
    landed = fleet.board.wait_for(plan, image, list(missing))
    _hand_out_copies(fleet, plan, job, missing, owner)
    reason = fleet.board.blob_failure(plan, list(missing))
    if reason:
        fail_image(fleet, plan, image, reason)
        return "failed"
    for key in landed:
        if fleet.board.remove_pending(plan, image, key):
            enqueue_push(fleet, plan, image, str(job.dest))
    return "waiting"


def _missing_blobs(fleet: FleetContext, plan: str, res: Resolved) -> dict[str, Descriptor]:
    """The image's blobs the shared cache does not know at the destination, by blob key."""
    dst = res.job.dest.repo
    fleet.plans.reference(plan, dst.registry, {d.digest: d.size for d in res.blobs.values()})
    cached = fleet.cache.known(dst.registry, dst.path, list(res.blobs))
    _count_cached(fleet, plan, res, [d for d in res.blobs.values() if d.digest in cached])
    return {
        keys.blob_key(str(dst), d.digest): d for d in res.blobs.values() if d.digest not in cached
    }


def _count_cached(fleet: FleetContext, plan: str, res: Resolved, found: list[Descriptor]) -> None:
    """Count blobs already at the destination: bytes once per registry, blobs once per repo.

    As :meth:`PlanStore.settle` with ``exists`` and a ``seen`` once-token per
    blob, but all of an image's tokens in one round trip and one bump.
    """
    if not found:
        return
    dst = res.job.dest.repo
    tokens: list[str] = []
    for desc in found:
        tokens += [
            keys.once_settled(dst.registry, desc.digest),
            keys.once_seen(keys.blob_key(str(dst), desc.digest)),
        ]
    firsts = fleet.plans.once_all(plan, tokens)
    settled, seen = firsts[0::2], sum(firsts[1::2])
    skipped = sum(max(d.size, 0) for d, first in zip(found, settled, strict=True) if first)
    if skipped or seen:
        fleet.plans.bump(plan, bytes_skipped=skipped, blobs_total=seen, blobs_skipped=seen)
    for _ in range(seen):
        metrics.recorder().blob(res.job.source.repo.registry, dst.registry, "exists")


def _hand_out_copies(
    fleet: FleetContext, plan: str, job: TagJob, missing: dict[str, Descriptor], owner: str
) -> None:
    """Claim each missing blob once per plan and enqueue its copy, largest first.

    Blobs of at most :func:`defaults.batch_blob` bytes, up to
    :data:`defaults.BATCH_BYTES` and :data:`defaults.BATCH_COUNT` blobs in
    all, go out together as one ``copy_blobs`` task; every other blob gets a
    ``copy_blob`` task.
    """
    src, dst = job.source.repo, job.dest.repo
    batch: dict[str, Descriptor] = {}
    budget, largest = defaults.BATCH_BYTES, defaults.batch_blob()
    # Until a claim's task is published, any failure gives it back, so the
    # retried task (or another image's) can claim and enqueue it again.
    with _unclaimed_on_error(fleet, plan, batch):
        for key, desc in sorted(missing.items(), key=lambda kv: -kv[1].size):
            if not fleet.board.claim_blob(plan, key, owner):
                continue
            batch[key] = desc  # claimed, not yet published
            if fleet.plans.once(plan, keys.once_seen(key)):
                fleet.plans.bump(plan, blobs_total=1)
            fits = 0 <= desc.size <= min(largest, budget) and len(batch) <= defaults.BATCH_COUNT
            if largest > 0 and fits:
                budget -= desc.size
                continue
            enqueue_copy(fleet, plan, src, dst, desc)
            del batch[key]
        if batch:
            enqueue_batch(fleet, plan, src, dst, list(batch.values()))
            batch.clear()


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


def push_image(fleet: FleetContext, msg: PushImage) -> str:
    """Push an image whose blobs have all landed: children first, the tag last."""
    plan, image = msg.plan, msg.image
    if fleet.plans.cancelled(plan):
        return "cancelled"
    rec = ImageRecord.from_body(fleet.board.load_image(plan, image))
    res = resolved_from(rec)
    reason = fleet.board.blob_failure(
        plan, [keys.blob_key(str(res.job.dest.repo), d) for d in res.blobs]
    )
    if reason:
        fail_image(fleet, plan, image, reason)
        return "failed"
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
