"""Sending task messages (syncer.fleet.steps.enqueue): fan-outs, blob copies, pushes, recorded."""

from __future__ import annotations

from typing import cast

from syncer import defaults
from syncer.engine.jobs import TagJob
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.messages import CopyBlob, CopyBlobs, PushImage, SyncTag, SyncTags
from syncer.fleet.steps.context import FleetContext
from syncer.fleet.steps.enqueue import (
    FANOUT_CHUNK,
    FANOUT_DIRECT,
    enqueue_batch,
    enqueue_copy,
    enqueue_push,
    fan_out,
    sync_tag_message,
)
from syncer.oci.manifest import Descriptor
from syncer.oci.reference import ImageRef, Repository
from tests.support.dispatch import Recorder

TAGS = FANOUT_DIRECT + 100
SRC, DST = Repository.parse("src.example/a"), Repository.parse("dst.example/m/a")
BIG = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + "b" * 64, 2 << 30)
SMALL = Descriptor("application/vnd.oci.image.config.v1+json", "sha256:" + "c" * 64, 300)


class _Sender:
    """Only what the enqueue functions read of a context: its dispatcher."""

    def __init__(self) -> None:
        self.dispatch = Recorder()


def _jobs(n: int) -> list[TagJob]:
    return [
        TagJob(ImageRef.parse(f"src.example/a:t{i}"), ImageRef.parse(f"dst.example/a:t{i}"))
        for i in range(n)
    ]


def test_fan_out_sends_batches_of_tag_batch_images_in_order() -> None:
    rec = Recorder()
    jobs = _jobs(2 * defaults.TAG_BATCH + 3)
    fan_out(rec, "p", jobs)
    assert rec.names == [settings.SYNC_TAGS] * 3
    sizes = [len(kwargs["jobs"]) for _, kwargs, _ in rec.sent]
    assert sizes == [defaults.TAG_BATCH, defaults.TAG_BATCH, 3]
    flat = [TagJob.from_dict(j) for _, kwargs, _ in rec.sent for j in kwargs["jobs"]]
    assert flat == jobs


def test_fan_out_up_to_fanout_direct_is_sent_by_the_caller() -> None:
    rec = Recorder()
    fan_out(rec, "p", _jobs(FANOUT_DIRECT))
    assert set(rec.names) == {settings.SYNC_TAGS}
    assert len(rec.names) == -(-FANOUT_DIRECT // defaults.TAG_BATCH)


def test_large_fan_out_is_split_into_chunks_first_in_line() -> None:
    rec = Recorder()
    jobs = _jobs(TAGS)
    fan_out(rec, "p", jobs)
    assert set(rec.names) == {settings.ENQUEUE_TAGS}
    sizes = [len(kwargs["jobs"]) for _, kwargs, _ in rec.sent]
    rest = TAGS % FANOUT_CHUNK
    assert sizes == [FANOUT_CHUNK] * (TAGS // FANOUT_CHUNK) + [rest]
    assert all(priority == 0 for _, _, priority in rec.sent)
    flat = [TagJob.from_dict(j) for _, kwargs, _ in rec.sent for j in kwargs["jobs"]]
    assert flat == jobs


def test_a_planned_image_becomes_its_sync_tag_message_with_the_rules_platforms() -> None:
    job = TagJob(
        ImageRef.parse("src.example/a:v1"), ImageRef.parse("dst.example/m/a:v1"), "r", ("linux",)
    )
    message = sync_tag_message("p", job)
    assert message == SyncTag("p", "src.example/a:v1", "dst.example/m/a:v1", "r", ("linux",))
    rec = Recorder()
    fan_out(rec, "p", [job])
    # Fanned out, it travels in a sync_tags batch, platforms and all.
    [(name, body, _)] = rec.sent
    assert name == settings.SYNC_TAGS
    assert [TagJob.from_dict(j) for j in SyncTags.from_body(body).jobs] == [job]


def test_a_blob_copy_is_sent_at_its_size_priority() -> None:
    fleet = _Sender()
    enqueue_copy(cast(FleetContext, fleet), "p", SRC, DST, BIG)
    ((name, body, priority),) = fleet.dispatch.sent
    assert (name, priority) == (settings.COPY_BLOB, 0)
    assert CopyBlob.from_body(body) == CopyBlob(
        "p", str(SRC), str(DST), BIG.digest, BIG.size, BIG.media_type
    )


def test_a_batch_of_small_blobs_is_one_task_at_batch_priority() -> None:
    fleet = _Sender()
    enqueue_batch(cast(FleetContext, fleet), "p", SRC, DST, [SMALL, SMALL])
    ((name, body, priority),) = fleet.dispatch.sent
    assert (name, priority) == (settings.COPY_BLOBS, defaults.BATCH_PRIORITY)
    assert CopyBlobs.from_body(body).descriptors == [SMALL, SMALL]


def test_a_push_names_its_image_and_destination() -> None:
    fleet = _Sender()
    enqueue_push(cast(FleetContext, fleet), "p", "img-1", "dst.example/m/a:v1")
    ((name, body, priority),) = fleet.dispatch.sent
    assert (name, priority) == (settings.PUSH_IMAGE, None)
    assert PushImage.from_body(body) == PushImage("p", "img-1", "dst.example/m/a:v1")
