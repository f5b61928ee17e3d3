"""Sending task messages, and the fan-outs and hand-offs built on it.

Messages are built in :mod:`syncer.fleet.protocol.messages`; this module only sends
them, through the context's :class:`~syncer.fleet.steps.context.Dispatcher` (the
Celery one lives in :mod:`syncer.fleet.broker`; tests pass one that records).
"""

from __future__ import annotations

from syncer import defaults
from syncer.engine.jobs import TagJob
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.messages import (
    CopyBlob,
    CopyBlobs,
    EnqueueTags,
    Message,
    PushImage,
    SyncTag,
    SyncTags,
)
from syncer.fleet.steps.context import Dispatcher, FleetContext
from syncer.oci.manifest import Descriptor
from syncer.oci.reference import Repository

#: A fan-out of more than FANOUT_DIRECT images is split into ``enqueue_tags``
#: tasks of FANOUT_CHUNK images, so several workers publish a 50k-tag
#: repository in parallel (publishing costs about a millisecond a message).
FANOUT_DIRECT = 2000
FANOUT_CHUNK = 250


def send(dispatch: Dispatcher, message: Message, priority: int | None = None) -> None:
    """Enqueue a built message under its task name."""
    dispatch.send(message.TASK, message.to_body(), priority)


def sync_tag_message(plan: str, job: TagJob) -> SyncTag:
    """The ``sync_tag`` message of one planned image."""
    return SyncTag(plan, str(job.source), str(job.dest), job.rule, job.platforms)


def fan_out(dispatch: Dispatcher, plan: str, jobs: list[TagJob]) -> None:
    """The images as ``sync_tags`` batches; big fan-outs go through ``enqueue_tags`` chunks.

    Publishing costs about a millisecond of CPU per message, so a 10k-tag
    repository is split into chunks that every worker can publish at once.
    """
    if len(jobs) <= FANOUT_DIRECT:
        send_batches(dispatch, plan, jobs)
        return
    for start in range(0, len(jobs), FANOUT_CHUNK):
        chunk = tuple(job.to_dict() for job in jobs[start : start + FANOUT_CHUNK])
        send(dispatch, EnqueueTags(plan, chunk), priority=0)


def send_batches(dispatch: Dispatcher, plan: str, jobs: list[TagJob]) -> None:
    """One ``sync_tags`` task per :data:`defaults.TAG_BATCH` images, in order."""
    for start in range(0, len(jobs), defaults.TAG_BATCH):
        batch = tuple(job.to_dict() for job in jobs[start : start + defaults.TAG_BATCH])
        send(dispatch, SyncTags(plan, batch))


def enqueue_copy(
    fleet: FleetContext, plan: str, src: Repository, dst: Repository, desc: Descriptor
) -> None:
    """Enqueue the ``copy_blob`` task of one blob, bigger blobs at higher priority."""
    message = CopyBlob(plan, str(src), str(dst), desc.digest, desc.size, desc.media_type)
    send(fleet.dispatch, message, priority=settings.blob_priority(desc.size))


def enqueue_batch(
    fleet: FleetContext, plan: str, src: Repository, dst: Repository, blobs: list[Descriptor]
) -> None:
    """Enqueue one ``copy_blobs`` task for several small blobs of one image."""
    message = CopyBlobs(plan, str(src), str(dst), tuple(d.to_dict() for d in blobs))
    send(fleet.dispatch, message, priority=defaults.BATCH_PRIORITY)


def enqueue_push(fleet: FleetContext, plan: str, image: str, dest: str) -> None:
    """Enqueue the ``push_image`` task of an image whose last blob landed."""
    send(fleet.dispatch, PushImage(plan, image, dest))
