"""Blob steps (syncer.fleet.steps.blobsteps) against a real ``redis-server``.

Releasing the images a landed blob completes, and handing back what did not land.
"""

from __future__ import annotations

import pytest
import redis

from syncer.fleet.protocol import settings
from syncer.fleet.protocol.keys import blob_key, image_record
from syncer.fleet.steps import blobsteps
from tests.support.dispatch import JOB, MIB, PLAN, Recorder, fleet_context, missing_blobs


class Pushes:
    """Records the inline pushes of ``_release_waiters``; fails while ``failing``."""

    def __init__(self, failing: bool = False) -> None:
        self.failing = failing
        self.images: list[str] = []

    def __call__(self, fleet: object, plan: str, image: str) -> str:
        if self.failing:
            raise ConnectionError("Redis went away mid-push")
        self.images.append(image)
        return "synced"


def test_a_failed_push_leaves_the_image_waiting_for_its_last_blob(
    redis_client: redis.Redis,
) -> None:
    key = blob_key("dst.example/mirror/app", f"sha256:{1:064x}")
    image = "img-1"
    fleet = fleet_context(redis_client, Recorder())
    fleet.board.save_image(PLAN, image, {"job": {"dest": "dst.example/mirror/app:v1"}})
    fleet.board.wait_for(PLAN, image, [key])

    with pytest.raises(ConnectionError):
        blobsteps._release_waiters(fleet, PLAN, key, "copy-1", push=Pushes(failing=True))

    # The retried copy task is again the one that completes the image.
    pushes = Pushes()
    blobsteps._release_waiters(fleet, PLAN, key, "copy-1", push=pushes)
    assert pushes.images == [image]
    # Another task landing the same blob (the other side of a race) does not push it.
    blobsteps._release_waiters(fleet, PLAN, key, "copy-2", push=pushes)
    assert pushes.images == [image], "the image was completed twice"


def test_a_copy_killed_before_it_pushed_pushes_on_redelivery(
    redis_client: redis.Redis,
) -> None:
    key = blob_key("dst.example/mirror/app", f"sha256:{1:064x}")
    image = "img-1"
    fleet = fleet_context(redis_client, Recorder())
    fleet.board.save_image(PLAN, image, {"job": {"dest": "dst.example/mirror/app:v1"}})
    fleet.board.wait_for(PLAN, image, [key])
    # The copy removed the image's last blob, then was killed before (or while) it pushed.
    assert fleet.board.remove_pending(PLAN, image, key, "copy-1") is True

    pushes = Pushes()
    blobsteps._release_waiters(fleet, PLAN, key, "copy-1", push=pushes)  # its redelivery
    assert pushes.images == [image]
    # Once the image is final, nobody pushes it again.
    redis_client.hset(image_record(PLAN, image), "final", "1")
    blobsteps._release_waiters(fleet, PLAN, key, "copy-1", push=pushes)
    assert pushes.images == [image], "a final image was pushed again"


def test_every_image_a_landed_blob_completes_is_pushed(redis_client: redis.Redis) -> None:
    key = blob_key("dst.example/mirror/app", f"sha256:{1:064x}")
    fleet = fleet_context(redis_client, Recorder())
    fleet.board.save_image(PLAN, "img-1", {"job": {"dest": "dst.example/mirror/app:v1"}})
    fleet.board.save_image(PLAN, "img-2", {"job": {}, "pushes": [{"ref": "no body"}]})
    for image in ("img-1", "img-2"):
        fleet.board.wait_for(PLAN, image, [key])

    pushes = Pushes()
    blobsteps._release_waiters(fleet, PLAN, key, push=pushes)

    # The record that does not decode is pushed too: push_image fails that image alone.
    assert sorted(pushes.images) == ["img-1", "img-2"]


def test_a_batch_out_of_retries_hands_back_only_what_did_not_land(
    redis_client: redis.Redis,
) -> None:
    missing = missing_blobs(MIB, 2 * MIB)
    (landed_key, landed), (_, other) = missing.items()
    dispatch = Recorder()
    fleet = fleet_context(redis_client, dispatch)
    fleet.board.land(PLAN, landed_key)

    handed = blobsteps.hand_back_unlanded(
        fleet, PLAN, JOB.source.repo, JOB.dest.repo, [landed, other]
    )

    assert handed == 1
    assert [(n, kw["digest"]) for n, kw, _ in dispatch.sent] == [(settings.COPY_BLOB, other.digest)]
    assert fleet.board.blob_failure(PLAN, list(missing)) == "", "nothing was recorded failed"
