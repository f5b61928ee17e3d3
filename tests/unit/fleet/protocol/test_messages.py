"""Every task message and the image record survive a JSON round trip; bad bodies say why."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from syncer.errors import MessageError, SyncerError, is_transient
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.messages import (
    MESSAGES,
    VERSION_KEY,
    CopyBlob,
    CopyBlobs,
    EnqueueTags,
    ExpandRule,
    ImageRecord,
    Message,
    Push,
    PushImage,
    SyncTag,
    VerifyRule,
    VerifyTags,
)
from syncer.oci.manifest import Descriptor

DIGEST = "sha256:" + "ab" * 32
BLOB = {"media_type": "application/octet-stream", "digest": DIGEST, "size": 7}

EXAMPLES: list[Message] = [
    ExpandRule("p1", {"key": "src/app", "source": "src/app", "kind": "all", "destinations": []}),
    EnqueueTags("p1", ({"source": "s/a:1", "dest": "d/a:1", "rule": "r"},)),
    SyncTag("p1", "s/a:1", "d/a:1", "r"),
    SyncTag("p1", "s/a:1", "d/a:1"),
    CopyBlob("p1", "s/a", "d/a", DIGEST, 7, "application/octet-stream", waited=2, deferred=1),
    CopyBlob("p1", "s/a", "d/a", DIGEST, 7),
    CopyBlobs("p1", "s/a", "d/a", (BLOB, BLOB), deferred=3),
    PushImage("p1", "0123456789abcdef", "d/a:1"),
    VerifyRule("p1", {"key": "src/app"}, ({"key": "src/other"},), prune=1),
    VerifyRule("p1", {"key": "src/app"}),
    VerifyTags("p1", ({"source": "s/a:1", "dest": "d/a:1", "rule": "r"},)),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_json(message: Message) -> None:
    body = json.loads(json.dumps(message.to_body()))

    assert type(message).from_body(body) == message
    assert MESSAGES[message.TASK] is type(message)


def test_every_task_name_has_a_message() -> None:
    names = {settings.EXPAND_RULE, settings.ENQUEUE_TAGS, settings.SYNC_TAGS, settings.SYNC_TAG}
    names |= {settings.COPY_BLOB, settings.COPY_BLOBS, settings.PUSH_IMAGE}
    names |= {settings.VERIFY_RULE, settings.VERIFY_TAGS}
    assert set(MESSAGES) == names


def test_version_one_bodies_are_what_workers_before_versions_read() -> None:
    # No "v", no defaults: a worker from before message versions takes these as they are.
    assert SyncTag("p", "s/a:1", "d/a:1").to_body() == {
        "plan": "p",
        "source": "s/a:1",
        "dest": "d/a:1",
    }
    assert CopyBlob("p", "s/a", "d/a", DIGEST, 7, "m").to_body() == {
        "plan": "p",
        "src": "s/a",
        "dst": "d/a",
        "digest": DIGEST,
        "size": 7,
        "media_type": "m",
    }


def test_messages_are_frozen() -> None:
    message = SyncTag("p", "s/a:1", "d/a:1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.plan = "other"  # type: ignore[misc]


def test_a_newer_version_is_written_and_refused_by_an_older_reader() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class PushImageV2(PushImage):
        VERSION = 2

    body = PushImageV2("p", "i").to_body()

    assert body[VERSION_KEY] == 2
    assert PushImageV2.from_body(body) == PushImageV2("p", "i")
    with pytest.raises(MessageError, match="version 2 is newer than 1"):
        PushImage.from_body(body)


def test_sync_tag_says_version_2_only_when_it_carries_platforms() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class SyncTagV1(SyncTag):
        VERSION = 1

    plain = SyncTag("p", "s/a:1", "d/a:1", "r").to_body()
    pinned = SyncTag("p", "s/a:1", "d/a:1", "r", ("linux/arm64",)).to_body()

    assert plain == {"plan": "p", "source": "s/a:1", "dest": "d/a:1", "rule": "r"}
    assert SyncTagV1.from_body(plain) == SyncTagV1("p", "s/a:1", "d/a:1", "r")
    assert pinned == {**plain, "platforms": ["linux/arm64"], VERSION_KEY: 2}
    assert SyncTag.from_body(json.loads(json.dumps(pinned))).platforms == ("linux/arm64",)
    with pytest.raises(MessageError, match="version 2 is newer than 1"):
        SyncTagV1.from_body(pinned)
    with pytest.raises(MessageError, match="must list strings"):
        SyncTag.from_body({**pinned, "platforms": [{"os": "linux"}]})


@pytest.mark.parametrize(
    ("cls", "body", "says"),
    [
        (SyncTag, {"plan": "p", "source": "s/a:1"}, "field 'dest' is missing"),
        (SyncTag, {"plan": "p", "source": 3, "dest": "d"}, "field 'source' is int, expected str"),
        (CopyBlob, {**BLOB, "plan": "p", "src": "s", "dst": "d", "size": "7"}, "'size' is str"),
        (CopyBlob, {**BLOB, "plan": "p", "src": "s", "dst": "d", "size": True}, "'size' is bool"),
        (CopyBlobs, {"plan": "p", "src": "s", "dst": "d", "blobs": ["x"]}, "must list objects"),
        (ExpandRule, {"plan": "p", "rule": "src/app"}, "'rule' is str, expected dict"),
        (PushImage, {"plan": "p", "image": "i", "extra": 1}, "unknown field(s) extra"),
        (PushImage, {"plan": "p", "image": "i", VERSION_KEY: "2"}, "version '2' is not a number"),
        (PushImage, ["p", "i"], "body is list, not an object"),
    ],
)
def test_a_malformed_body_is_refused_naming_what_is_wrong(
    cls: type[Message], body: Any, says: str
) -> None:
    with pytest.raises(MessageError) as caught:
        cls.from_body(body)
    assert says in str(caught.value)
    assert cls.TASK in str(caught.value) or "version" in str(caught.value)


def test_a_body_that_does_not_decode_is_a_permanent_syncer_error() -> None:
    # In the one error tree, and never retried: a redelivery would not decode either.
    with pytest.raises(SyncerError) as caught:
        PushImage.from_body({"plan": "p"})
    assert isinstance(caught.value, MessageError)
    assert not is_transient(caught.value)


def test_the_image_record_round_trips_manifest_bytes_exactly() -> None:
    record = ImageRecord(
        job={"source": "s/a:1", "dest": "d/a:1", "rule": "r"},
        note="note",
        pushes=(
            Push("d/a:1", "application/vnd.oci.image.manifest.v1+json", DIGEST, b"\x00{}\xff"),
        ),
        blobs=(Descriptor("application/octet-stream", DIGEST, 7),),
        bytes=7,
    )
    body = json.loads(json.dumps(record.to_body()))

    assert ImageRecord.from_body(body) == record
    assert (record.source, record.dest, record.rule) == ("s/a:1", "d/a:1", "r")


def test_the_image_record_keeps_a_rules_platforms_as_a_list() -> None:
    job = {"source": "s/a:1", "dest": "d/a:1", "rule": "r", "platforms": ["linux/arm64"]}
    body = json.loads(json.dumps(ImageRecord(job=job).to_body()))

    assert ImageRecord.from_body(body).job == job


def test_an_absent_image_record_decodes_empty_and_a_corrupt_one_is_refused() -> None:
    assert ImageRecord.from_body({}).dest == ""
    with pytest.raises(MessageError, match="image record does not decode"):
        ImageRecord.from_body({"job": {}, "pushes": [{"ref": "x"}]})
    with pytest.raises(MessageError, match="image record does not decode"):
        ImageRecord.from_body({"job": {}, "pushes": [{**BLOB, "ref": "x", "body": "!!"}]})
