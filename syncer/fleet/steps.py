"""The distributed steps: what each Celery task does, as plain functions.

``workers/tasks.py`` decodes arguments, applies the retry policy and calls
exactly one of these (blob copies: :mod:`syncer.fleet.blobsteps`). They are
idempotent: a redelivered task re-checks the destination, keys its work by
digest, and bumps counters only once.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from syncer.engine import (
    Resolved,
    expand_rule,
    is_blob_unknown,
    push_manifests,
    resolve,
    unique_jobs,
)
from syncer.errors import SyncerError
from syncer.fleet import settings
from syncer.fleet.blobcache import RedisBlobCache
from syncer.fleet.images import COUNT_RULE, RECORD, ImageBoard, blob_key, image_id
from syncer.fleet.locks import ConnectionLimiter, InflightLocks
from syncer.fleet.plans import PlanStore
from syncer.fleet.uploads import RedisUploadSessions
from syncer.jobs import ImageResult, TagJob
from syncer.manifest import Descriptor, PlatformFilter
from syncer.reference import Repository
from syncer.registry.models import RawManifest
from syncer.registry.pool import ClientPool
from syncer.rules import Rule
from syncer.transfer import BlobCopier

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Enqueues a task by its stable name."""

    def send(self, name: str, kwargs: dict[str, Any], priority: int | None = None) -> None:
        """Enqueue ``name`` with JSON ``kwargs``."""


@dataclass
class Fleet:
    """Everything a step needs; built once per worker process."""

    redis: redis.Redis
    pool: ClientPool
    dispatch: Dispatcher
    #: The worker's own ``max_connections`` settings; the plan's take precedence.
    limits: dict[str, int]

    def __post_init__(self) -> None:
        self.limiter = ConnectionLimiter(self.redis)
        self.plans = PlanStore(self.redis)
        self.board = ImageBoard(self.redis, self.plans.ttl_for)
        self.cache = RedisBlobCache(self.redis)
        self.locks = InflightLocks(self.redis, ttl=settings.lock_ttl())
        self.uploads = RedisUploadSessions(self.redis)


# -- tags ---------------------------------------------------------------------------
def fan_out(dispatch: Dispatcher, plan: str, jobs: list[TagJob]) -> None:
    """One ``sync_tag`` task per image; big fan-outs go through ``enqueue_tags`` chunks.

    Publishing costs about a millisecond of CPU per message, so a 10k-tag
    repository is split into chunks that every worker can publish at once.
    """
    if len(jobs) <= settings.FANOUT_CHUNK:
        for job in jobs:
            dispatch.send(settings.SYNC_TAG, {"plan": plan, **job.to_dict()})
        return
    for start in range(0, len(jobs), settings.FANOUT_CHUNK):
        chunk = [job.to_dict() for job in jobs[start : start + settings.FANOUT_CHUNK]]
        dispatch.send(settings.ENQUEUE_TAGS, {"plan": plan, "jobs": chunk}, priority=0)


def enqueue_tags(fleet: Fleet, plan: str, jobs: list[dict[str, Any]]) -> int:
    """Publish one chunk of a fan-out."""
    if fleet.plans.cancelled(plan):
        return 0
    for job in jobs:
        fleet.dispatch.send(settings.SYNC_TAG, {"plan": plan, **TagJob.from_dict(job).to_dict()})
    return len(jobs)


def expand(fleet: Fleet, plan: str, rule: dict[str, Any]) -> int:
    """List a repo-wide or regex rule's tags and fan out; return how many images."""
    if fleet.plans.cancelled(plan):
        return 0
    parsed = Rule.from_dict(rule)
    listed: list[TagJob] = []
    bad: list[ImageResult] = []  # listed tags outside the grammar: never requested
    for item in expand_rule(parsed, fleet.pool):
        if isinstance(item, ImageResult):
            bad.append(item)
        else:
            listed.append(item)
    jobs = unique_jobs(listed)
    fan_out(fleet.dispatch, plan, jobs)
    if fleet.plans.once(plan, f"expand:{parsed.key}"):
        fleet.plans.bump(plan, tags_total=len(jobs) + len(bad), rules_pending=-1)
        for result in bad:
            fleet.plans.record(plan, result)
    return len(jobs)


def expand_failed(fleet: Fleet, plan: str, rule: dict[str, Any], reason: str) -> None:
    """Record a rule whose tags could not be listed: one failure per destination."""
    try:
        parsed = Rule.from_dict(rule)
    except SyncerError:
        _unreadable_rule_failed(fleet, plan, rule, reason)
        return
    if not fleet.plans.once(plan, f"expand:{parsed.key}"):
        return
    fleet.plans.bump(plan, tags_total=len(parsed.destinations), rules_pending=-1)
    for dest in parsed.destinations:
        fleet.plans.record(
            plan, ImageResult(parsed.key, str(dest), "failed", reason, rule=parsed.key)
        )


def _unreadable_rule_failed(fleet: Fleet, plan: str, rule: object, reason: str) -> None:
    """A rule that does not decode counts as one failed image, so the plan still ends."""
    key = str(rule.get("key", "")) if isinstance(rule, dict) else ""
    if fleet.plans.once(plan, f"expand:{key}"):
        fleet.plans.bump(plan, tags_total=1, rules_pending=-1)
        fleet.plans.record(plan, ImageResult(key, "", "failed", reason, rule=key))


def _options(fleet: Fleet, plan: str) -> tuple[bool, PlatformFilter]:
    meta = fleet.plans.meta(plan)
    plat = meta.get("platforms") or {}
    return bool(meta.get("force")), PlatformFilter(
        tuple(plat.get("os", ())), tuple(plat.get("arch", ()))
    )


def sync_tag(fleet: Fleet, plan: str, job: TagJob, owner: str = "") -> str:
    """Resolve one image; skip it, push it, or fan out its missing blobs.

    ``owner`` (this task's id) names the blob claims, so a redelivered task
    gets them back.
    """
    if fleet.plans.cancelled(plan):
        return "cancelled"
    force, platforms = _options(fleet, plan)
    res = resolve(job, fleet.pool, force=force, platforms=platforms)
    image = image_id(str(job.source), str(job.dest))
    if res.skip:
        _finish(
            fleet,
            plan,
            image,
            ImageResult(str(job.source), str(job.dest), "skipped", res.skip, rule=job.rule),
        )
        return "skipped"
    missing = _missing_blobs(fleet, plan, res)
    if not fleet.board.save_image(plan, image, _record(res, missing)):
        stored = (fleet.board.load_image(plan, image).get("job") or {}).get("rule", job.rule)
        if stored != job.rule:
            # Another rule already handles this (source, destination); settle
            # this rule's count instead of waiting for blobs it does not own.
            if fleet.plans.once(plan, f"finished:{image}:{job.rule}"):
                fleet.plans.bump(plan, tags_skipped=1)
            return "duplicate"
    if not missing:
        push_image(fleet, plan, image)
        return "pushed"
    landed = fleet.board.wait_for(plan, image, list(missing))
    _hand_out_copies(fleet, plan, job, missing, owner)
    reason = fleet.board.blob_failure(plan, list(missing))
    if reason:
        fail_image(fleet, plan, image, reason)
        return "failed"
    for key in landed:
        if fleet.board.remove_pending(plan, image, key):
            fleet.dispatch.send(
                settings.PUSH_IMAGE, {"plan": plan, "image": image, "dest": str(job.dest)}
            )
    return "waiting"


def _missing_blobs(fleet: Fleet, plan: str, res: Resolved) -> dict[str, Descriptor]:
    """The image's blobs the shared cache does not know at the destination, by blob key."""
    dst = res.job.dest.repo
    fleet.plans.reference(plan, dst.registry, {d.digest: d.size for d in res.blobs.values()})
    missing: dict[str, Descriptor] = {}
    for desc in res.blobs.values():
        key = blob_key(str(dst), desc.digest)
        if not fleet.cache.has(dst.registry, dst.path, desc.digest):
            missing[key] = desc
            continue
        fleet.plans.settle(plan, dst.registry, desc.digest, desc.size, "exists")
        if fleet.plans.once(plan, f"seen:{key}"):
            fleet.plans.bump(plan, blobs_total=1, blobs_skipped=1)
    return missing


def _hand_out_copies(
    fleet: Fleet, plan: str, job: TagJob, missing: dict[str, Descriptor], owner: str
) -> None:
    """Claim each missing blob once per plan and enqueue its copy, largest first.

    Blobs of at most :func:`settings.batch_blob` bytes, up to
    :data:`settings.BATCH_BYTES` and :data:`settings.BATCH_COUNT` blobs in
    all, go out together as one ``copy_blobs`` task; every other blob gets a
    ``copy_blob`` task.
    """
    src, dst = job.source.repo, job.dest.repo
    batch: dict[str, Descriptor] = {}
    budget, largest = settings.BATCH_BYTES, settings.batch_blob()
    # Until a claim's task is published, any failure gives it back, so the
    # retried task (or another image's) can claim and enqueue it again.
    with _unclaimed_on_error(fleet, plan, batch):
        for key, desc in sorted(missing.items(), key=lambda kv: -kv[1].size):
            if not fleet.board.first_enqueue(plan, key, owner):
                continue
            batch[key] = desc  # claimed, not yet published
            if fleet.plans.once(plan, f"seen:{key}"):
                fleet.plans.bump(plan, blobs_total=1)
            fits = 0 <= desc.size <= min(largest, budget) and len(batch) <= settings.BATCH_COUNT
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
    fleet: Fleet, plan: str, unpublished: dict[str, Descriptor]
) -> Iterator[None]:
    """On any error, give back the claims in ``unpublished`` (as it stands then)."""
    try:
        yield
    except Exception:
        for key in list(unpublished):
            fleet.board.forget_enqueue(plan, key)
        raise


def enqueue_copy(
    fleet: Fleet, plan: str, src: Repository, dst: Repository, desc: Descriptor
) -> None:
    """Enqueue the ``copy_blob`` task of one blob, bigger blobs at higher priority."""
    kwargs = {
        "plan": plan,
        "src": str(src),
        "dst": str(dst),
        "digest": desc.digest,
        "size": desc.size,
        "media_type": desc.media_type,
    }
    fleet.dispatch.send(settings.COPY_BLOB, kwargs, priority=settings.blob_priority(desc.size))


def enqueue_batch(
    fleet: Fleet, plan: str, src: Repository, dst: Repository, blobs: list[Descriptor]
) -> None:
    """Enqueue one ``copy_blobs`` task for several small blobs of one image."""
    kwargs = {
        "plan": plan,
        "src": str(src),
        "dst": str(dst),
        "blobs": [d.to_dict() for d in blobs],
    }
    fleet.dispatch.send(settings.COPY_BLOBS, kwargs, priority=settings.BATCH_PRIORITY)


def _record(res: Resolved, missing: dict[str, Descriptor]) -> dict[str, Any]:
    return {
        "job": res.job.to_dict(),
        "note": res.note,
        "pushes": [
            {
                "ref": ref,
                "media_type": m.media_type,
                "digest": m.digest,
                "body": base64.b64encode(m.body).decode(),
            }
            for ref, m in res.pushes
        ],
        "blobs": [d.to_dict() for d in res.blobs.values()],
        "bytes": sum(max(d.size, 0) for d in missing.values()),
    }


def _resolved(rec: dict[str, Any]) -> Resolved:
    res = Resolved(TagJob.from_dict(rec["job"]), note=rec.get("note", ""))
    res.pushes = [
        (p["ref"], RawManifest(base64.b64decode(p["body"]), p["media_type"], p["digest"]))
        for p in rec["pushes"]
    ]
    res.blobs = {
        b["digest"]: Descriptor(b["media_type"], b["digest"], b["size"]) for b in rec["blobs"]
    }
    return res


def tag_failed(fleet: Fleet, plan: str, source: str, dest: str, rule: str, reason: str) -> None:
    """Record an image that failed before or while pushing.

    References as the task got them: one that does not parse fails this way too.
    """
    image = image_id(source, dest)
    _finish(fleet, plan, image, ImageResult(source, dest, "failed", reason, rule=rule))


def fail_image(fleet: Fleet, plan: str, image: str, reason: str) -> None:
    """Record a stored image as failed."""
    rec = fleet.board.load_image(plan, image)
    job = rec.get("job") or {}
    _finish(
        fleet,
        plan,
        image,
        ImageResult(
            job.get("source", image),
            job.get("dest", ""),
            "failed",
            reason,
            rule=job.get("rule", ""),
        ),
    )


def _finish(fleet: Fleet, plan: str, image: str, result: ImageResult) -> None:
    # Each rule that named this image counted it once in tags_total. The first
    # finisher records the result; another rule naming the same (source,
    # destination) settles its own count; a redelivered task of a rule already
    # counted changes nothing. Decided in one step: two runs of one push at
    # once (a retry beside its requeued original) counted it done and skipped.
    guard = fleet.plans.guard_key.format(plan=plan)
    outcome = fleet.board.settle(plan, image, guard, f"finished:{image}:{result.rule}")
    if outcome == RECORD:
        fleet.plans.record(plan, result)
        log.info(
            "%s %s -> %s%s",
            result.status,
            result.source,
            result.dest,
            f": {result.reason}" if result.reason else "",
        )
    elif outcome == COUNT_RULE:
        fleet.plans.bump(plan, tags_skipped=1)


def push_image(fleet: Fleet, plan: str, image: str) -> str:
    """Push an image whose blobs have all landed: children first, the tag last."""
    if fleet.plans.cancelled(plan):
        return "cancelled"
    rec = fleet.board.load_image(plan, image)
    res = _resolved(rec)
    reason = fleet.board.blob_failure(
        plan, [blob_key(str(res.job.dest.repo), d) for d in res.blobs]
    )
    if reason:
        fail_image(fleet, plan, image, reason)
        return "failed"
    try:
        push_manifests(res, fleet.pool)
    except SyncerError as exc:
        if not is_blob_unknown(exc):
            raise
        _recheck_blobs(fleet, res)
        push_manifests(res, fleet.pool)
    _finish(
        fleet,
        plan,
        image,
        ImageResult(
            str(res.job.source),
            str(res.job.dest),
            "synced",
            res.note,
            bytes=int(rec.get("bytes", 0)),
            rule=res.job.rule,
        ),
    )
    return "synced"


def _recheck_blobs(fleet: Fleet, res: Resolved) -> None:
    """A stale cache entry: forget the image's blobs and make sure each one is there."""
    src, dst = res.job.source.repo, res.job.dest.repo
    copier = BlobCopier(fleet.pool.for_repo(src), fleet.pool.for_repo(dst))
    for desc in res.blobs.values():
        fleet.cache.discard(dst.registry, dst.path, desc.digest)
        copier.copy(src, dst, desc)
        fleet.cache.add(dst.registry, dst.path, desc.digest)


# -- blobs ---------------------------------------------------------------------------
