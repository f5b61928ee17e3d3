"""A plan's counts reconciled against its image records: a drifted count cannot hold it open.

An image is final when its record says so (``plan:{plan}:image:{id}``, field
``final``); its result and its count are written in the same step
(``fleet/state/ledger.py``). Workers from before that step set ``final`` first and
recorded the result in a second call, and one killed in between left an
image final and uncounted for ever: every record final, the results list and
``tags_done`` one short, and ``plan --wait`` waiting on an image that had
finished. :func:`reconcile` finds such images (final, no result, and final
for at least ``older_than`` seconds) and records each as failed, naming why:
whether it was pushed is not known, and a failure ends the plan without
claiming success (``syncer plan --retry-failed`` checks them again, cheaply).

It scans the plan's image records, which costs a pass over Redis's keys, so
followers run it only when a plan has not moved for a while
(``FOLLOW_RECONCILE_AFTER``), and ``status`` only when :func:`idle` says the
plan stood still that long and reconciling would end it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import redis

from syncer.engine.jobs import ImageResult, TagJob
from syncer.errors import MessageError, SyncerError
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.messages import CopyBlob, ImageRecord
from syncer.fleet.state.guard import text
from syncer.fleet.state.ledger import Ledger
from syncer.fleet.state.plans import PlanStatus, PlanStore

log = logging.getLogger(__name__)

#: The reason recorded for an image whose result was lost.
UNRECORDED = (
    "finished, but its result was never recorded (its worker stopped in between); "
    "whether it was pushed is unknown: syncer plan --retry-failed checks it"
)
#: A once-token per reconciled image, so two reconcilers count it once.
_TOKEN = "reconciled:{image}"
_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


@dataclass(frozen=True, slots=True)
class Unrecorded:
    """An image that is final in its record and missing from the results."""

    image: str
    result: ImageResult


def unrecorded(client: redis.Redis, plan: str, older_than: float) -> list[Unrecorded]:
    """The plan's final images with no result, final for at least ``older_than`` seconds."""
    prefix = keys.image_record(plan, "")
    names = [text(k) for k in client.scan_iter(match=prefix.translate(_GLOB) + "*", count=1000)]
    if not names:
        return []
    pipe = client.pipeline()
    for name in names:
        pipe.hmget(name, "final", "record")
    pipe.lrange(keys.plan_results(plan), 0, -1)
    *replies, raw_results = pipe.execute()
    recorded = set()
    for raw in raw_results:
        entry = json.loads(raw)
        recorded.add(keys.image_id(str(entry.get("source", "")), str(entry.get("dest", ""))))
    now, found = time.time(), []
    for name, (final, body) in zip(names, replies, strict=True):
        image = name[len(prefix) :]
        if final is None or image in recorded or not _old(text(final), now, older_than):
            continue
        found.append(Unrecorded(image, _result(image, body)))
    return found


def _old(final: str, now: float, older_than: float) -> bool:
    """Whether a ``final`` flag was set long enough ago (older workers wrote ``1``: unknown)."""
    try:
        when = float(final)
    except ValueError:
        return True
    return when <= 1.0 or now - when >= older_than


def _result(image: str, body: bytes | None) -> ImageResult:
    """The failed result of an unrecorded image, named by its record where it has one."""
    try:
        rec = ImageRecord.from_body(json.loads(body)) if body else None
    except (MessageError, ValueError):
        rec = None
    if rec is None:
        return ImageResult(f"image {image}", "", "failed", UNRECORDED)
    return ImageResult(
        rec.source or f"image {image}", rec.dest, "failed", UNRECORDED, rule=rec.rule
    )


def idle(store: PlanStore, status: PlanStatus) -> float:
    """Seconds since the plan's counters last changed, read off their expiry.

    Every update pushes the expiry back to the plan's TTL, so what is gone of
    it is how long the plan has stood still: one cheap call, where a scan of
    Redis's keys is not.
    """
    left = int(store.redis.ttl(keys.plan_counters(status.plan)))
    if left < 0:
        return float("inf")  # no counters, or no expiry: nothing moves them
    return float(int(status.meta.get("ttl") or store.ttl_for(status.plan)) - left)


def reconcile(client: redis.Redis, plan: str, older_than: float) -> int:
    """Record each unrecorded final image of ``plan`` as failed; return how many were recorded."""
    store = PlanStore(client)
    ledger = Ledger(client, store.ttl_for, store.keep_due)
    count = 0
    for item in unrecorded(client, plan, older_than):
        token = _TOKEN.format(image=item.image)
        if ledger.count_once(plan, token, [item.result]) == 1:
            log.warning(
                "plan %s: %s final but uncounted; recorded failed", plan, item.result.source
            )
            count += 1
    return count


def stalled_copies(client: redis.Redis, plan: str) -> list[CopyBlob]:
    """A ``copy_blob`` message for every blob an image of ``plan`` still waits for.

    For a plan that stood still with images waiting: a copy whose task was
    lost, or a landing whose release of its waiters was, would hold the plan
    open for ever. Each copy is safe to send again: the fleet-wide upload
    lock and the HEAD before it mean a blob already there is not uploaded
    again, and its landing releases and pushes the images waiting for it.
    """
    prefix = keys.image_pending(plan, "")
    names = [text(k) for k in client.scan_iter(match=prefix.translate(_GLOB) + "*", count=1000)]
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.smembers(name)
        pipe.hmget(keys.image_record(plan, name[len(prefix) :]), "final", "record")
    replies = pipe.execute()
    copies: dict[str, CopyBlob] = {}
    for pending, (final, body) in zip(replies[::2], replies[1::2], strict=True):
        if final is not None or not body or not pending:
            continue
        try:
            rec = ImageRecord.from_body(json.loads(body))
            job = TagJob.from_dict(rec.job)
        except (SyncerError, ValueError, KeyError, TypeError):
            continue  # a record this process cannot read is a newer worker's
        blobs = {d.digest: d for d in rec.blobs}
        for key in (str(text(member)) for member in pending):
            desc = blobs.get(key.rpartition("@")[2])
            if desc is not None and key not in copies:
                src, dst = str(job.source.repo), str(job.dest.repo)
                copies[key] = CopyBlob(plan, src, dst, desc.digest, desc.size, desc.media_type)
    return list(copies.values())


def nothing_in_flight(client: redis.Redis) -> bool:
    """Whether no task is queued (kombu's ``celery*`` lists) or held by a worker (``unacked``).

    With ``acks_late``, a task a worker runs, or holds for a countdown, stays in
    the ``unacked`` hash until it ends, and kombu restores a dead worker's from
    there. So a plan that is not over while this holds has nothing left that
    could finish it: one of its tasks was lost.
    """
    if client.hlen(keys.unacked()):
        return False
    queues = client.scan_iter(match=keys.task_queues(), count=1000, _type="list")
    return not any(client.llen(name) for name in queues)
