"""Every task message of the fleet, and the image record, as frozen dataclasses.

A message is built first (``SyncTag(plan, source, dest, rule)``) and sent
apart from that (:func:`syncer.fleet.steps.enqueue.send`); a worker turns the
JSON body back into the same class with :meth:`Message.from_body`, which
names the field that is missing or of the wrong type. Fields are JSON
primitives: references stay text here and are parsed by the step, so a
reference that does not parse fails its image, not the decoding.

Schema versions: each message class states the :attr:`Message.VERSION` of
its body. Version 1 is the format from before versions existed, and its
bodies carry no ``"v"`` (nor fields left at their default), so a worker of
that time still reads them; a later version writes ``"v": N``. A worker
that meets a body newer than its class requeues it for a newer worker (see
``workers/upgrade.py``): nothing is dropped during a rolling upgrade.

::

    Message
     ├── ExpandRule   syncer.expand_rule    plan, rule
     ├── EnqueueTags  syncer.enqueue_tags   plan, jobs
     ├── SyncTags     syncer.sync_tags      plan, jobs
     ├── SyncTag      syncer.sync_tag       plan, source, dest, rule, platforms (v2),
     │                                      referrer (v3)
     ├── CopyBlob     syncer.copy_blob      plan, src, dst, digest, size, media_type,
     │                                      waited, deferred
     ├── CopyBlobs    syncer.copy_blobs     plan, src, dst, blobs, deferred
     ├── PushImage    syncer.push_image     plan, image, dest
     ├── VerifyRule   syncer.verify_rule    plan, rule, peers, prune
     └── VerifyTags   syncer.verify_tags    plan, jobs
    ImageRecord       (not a task: an image waiting for its blobs, kept in Redis)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from syncer.errors import MessageError
from syncer.fleet.protocol import settings
from syncer.oci.manifest import Descriptor

#: The body key of a message's schema version; absent means version 1.
VERSION_KEY = "v"
#: The version of bodies written before messages carried one.
FIRST_VERSION = 1

M = TypeVar("M", bound="Message")

#: What a field's annotation allows in a JSON body.
_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "dict[str, Any]": (dict,),
    "tuple[dict[str, Any], ...]": (list, tuple),
    "tuple[str, ...]": (list, tuple),
}


def body_version(body: Mapping[str, Any]) -> int:
    """The schema version a body says it has (1 when it says none)."""
    version = body.get(VERSION_KEY, FIRST_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise MessageError(f"message version {version!r} is not a number")
    return version


@dataclass(frozen=True, slots=True)
class Message:
    """A task's body: its task name, schema version, and JSON fields."""

    TASK: ClassVar[str] = ""
    VERSION: ClassVar[int] = FIRST_VERSION
    #: Fields added after version 1, with the version that added them. A class
    #: that lists them changed only by adding fields: a body that sets one says
    #: that field's version, so an older worker requeues it rather than drop
    #: the field, and a body that leaves them at their default stays readable
    #: by every version. A class without them always writes :attr:`VERSION`.
    SINCE: ClassVar[dict[str, int]] = {}

    def to_body(self) -> dict[str, Any]:
        """The JSON body sent as the task's keyword arguments."""
        body: dict[str, Any] = {}
        version = FIRST_VERSION
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue  # version 1 bodies leave defaults out, as before versions
            body[f.name] = list(value) if isinstance(value, tuple) else value
            version = max(version, self.SINCE.get(f.name, FIRST_VERSION))
        if not self.SINCE:
            version = self.VERSION
        if version > FIRST_VERSION:
            body[VERSION_KEY] = version
        return body

    @classmethod
    def from_body(cls: type[M], body: Mapping[str, Any]) -> M:
        """Decode a body; raise :class:`MessageError` naming what is wrong with it."""
        if not isinstance(body, Mapping):
            raise MessageError(f"{cls.TASK}: body is {type(body).__name__}, not an object")
        version = body_version(body)
        if version > cls.VERSION:
            raise MessageError(f"{cls.TASK}: version {version} is newer than {cls.VERSION}")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in body:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise MessageError(f"{cls.TASK}: field {f.name!r} is missing")
                continue
            values[f.name] = _checked(cls.TASK, f.name, str(f.type), body[f.name])
        unknown = set(body) - {f.name for f in dataclasses.fields(cls)} - {VERSION_KEY}
        if unknown:
            raise MessageError(f"{cls.TASK}: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**values)


def _checked(task: str, name: str, kind: str, value: Any) -> Any:
    allowed = _KINDS[kind]
    if not isinstance(value, allowed) or (isinstance(value, bool) and int in allowed):
        raise MessageError(f"{task}: field {name!r} is {type(value).__name__}, expected {kind}")
    if isinstance(value, list | tuple):
        item_kind, items = (dict, "objects") if kind.startswith("tuple[dict") else (str, "strings")
        if not all(isinstance(item, item_kind) for item in value):
            raise MessageError(f"{task}: field {name!r} must list {items}")
        return tuple(value)
    return value


@dataclass(frozen=True, slots=True)
class ExpandRule(Message):
    """List a repo-wide or regex rule's tags and fan out (``rule`` as :meth:`Rule.to_dict`)."""

    TASK: ClassVar[str] = settings.EXPAND_RULE
    plan: str
    rule: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EnqueueTags(Message):
    """Publish one chunk of a large fan-out (``jobs`` as :meth:`TagJob.to_dict`)."""

    TASK: ClassVar[str] = settings.ENQUEUE_TAGS
    plan: str
    jobs: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class SyncTags(Message):
    """Resolve several images at once (``jobs`` as :meth:`TagJob.to_dict`), as ``sync_tag`` each."""

    TASK: ClassVar[str] = settings.SYNC_TAGS
    plan: str
    jobs: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class SyncTag(Message):
    """Resolve one image and fan out its missing blobs."""

    TASK: ClassVar[str] = settings.SYNC_TAG
    VERSION: ClassVar[int] = 3
    SINCE: ClassVar[dict[str, int]] = {"platforms": 2, "referrer": 3}
    plan: str
    source: str
    dest: str
    rule: str = ""
    #: The rule's ``platforms:`` (version 2), which replace ``--os``/``--arch``.
    platforms: tuple[str, ...] = ()
    #: For a referrer (version 3): :meth:`syncer.engine.referrers.Found.to_text`.
    referrer: str = ""


@dataclass(frozen=True, slots=True)
class CopyBlob(Message):
    """Copy one blob once for the fleet; ``waited``/``deferred`` count re-checks and hand-backs."""

    TASK: ClassVar[str] = settings.COPY_BLOB
    plan: str
    src: str
    dst: str
    digest: str
    size: int
    media_type: str = ""
    waited: int = 0
    #: How many times the copy was handed back. Named ``deferred`` on the wire:
    #: old and new workers share one queue during a rolling upgrade.
    deferred: int = 0

    @property
    def descriptor(self) -> Descriptor:
        """The blob (its digest checked)."""
        return Descriptor(self.media_type, self.digest, self.size)


@dataclass(frozen=True, slots=True)
class CopyBlobs(Message):
    """Copy several small blobs of one image (``blobs`` as :meth:`Descriptor.to_dict`)."""

    TASK: ClassVar[str] = settings.COPY_BLOBS
    plan: str
    src: str
    dst: str
    blobs: tuple[dict[str, Any], ...]
    #: As :attr:`CopyBlob.deferred` (the wire's name for the hand-back count).
    deferred: int = 0

    @property
    def descriptors(self) -> list[Descriptor]:
        """The blobs (their digests checked)."""
        return [Descriptor(b["media_type"], b["digest"], b["size"]) for b in self.blobs]


@dataclass(frozen=True, slots=True)
class PushImage(Message):
    """Push an image whose blobs have all landed (``dest`` is for people reading Flower)."""

    TASK: ClassVar[str] = settings.PUSH_IMAGE
    plan: str
    image: str
    dest: str = ""


@dataclass(frozen=True, slots=True)
class VerifyRule(Message):
    """Verify a rule, or with ``prune`` decide (and delete) its extra tags.

    ``peers`` are the other rules writing to one of its destination
    repositories (as :meth:`Rule.to_dict`): their tags are never extra.
    """

    TASK: ClassVar[str] = settings.VERIFY_RULE
    plan: str
    rule: dict[str, Any]
    peers: tuple[dict[str, Any], ...] = ()
    prune: int = 0


@dataclass(frozen=True, slots=True)
class VerifyTags(Message):
    """Check a batch of images (``jobs`` as :meth:`TagJob.to_dict`) and record each row."""

    TASK: ClassVar[str] = settings.VERIFY_TAGS
    plan: str
    jobs: tuple[dict[str, Any], ...]


#: Every task message class, by task name.
MESSAGES: dict[str, type[Message]] = {
    m.TASK: m
    for m in (
        ExpandRule,
        EnqueueTags,
        SyncTags,
        SyncTag,
        CopyBlob,
        CopyBlobs,
        PushImage,
        VerifyRule,
        VerifyTags,
    )
}


@dataclass(frozen=True, slots=True)
class Push:
    """One manifest to push: the reference, and the manifest exactly as served."""

    ref: str
    media_type: str
    digest: str
    body: bytes


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """An image waiting for its blobs: what ``push_image`` needs, stored in Redis."""

    #: The image's job as :meth:`TagJob.to_dict` (text, and ``platforms`` as a list).
    job: dict[str, Any]
    note: str = ""
    pushes: tuple[Push, ...] = ()
    blobs: tuple[Descriptor, ...] = ()
    #: Bytes of the blobs that had to be copied, for the image's result.
    bytes: int = 0
    #: For a referrer: its ``SyncTag.referrer``, so ``push_image`` lists it.
    referrer: str = ""

    @property
    def source(self) -> str:
        """The source reference, as text."""
        return str(self.job.get("source", ""))

    @property
    def dest(self) -> str:
        """The destination reference, as text."""
        return str(self.job.get("dest", ""))

    @property
    def rule(self) -> str:
        """The key of the rule that named the image."""
        return str(self.job.get("rule", ""))

    def to_body(self) -> dict[str, Any]:
        """JSON form: manifests in base64."""
        return {
            "job": dict(self.job),
            "note": self.note,
            "pushes": [
                {
                    "ref": p.ref,
                    "media_type": p.media_type,
                    "digest": p.digest,
                    "body": base64.b64encode(p.body).decode(),
                }
                for p in self.pushes
            ],
            "blobs": [d.to_dict() for d in self.blobs],
            "bytes": self.bytes,
            **({"referrer": self.referrer} if self.referrer else {}),
        }

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ImageRecord:
        """Decode a stored record; an empty one (expired, never saved) has an empty job."""
        try:
            job = body.get("job") or {}
            return cls(
                job={str(k): _job_value(v) for k, v in job.items()},
                note=str(body.get("note", "")),
                pushes=tuple(
                    Push(
                        p["ref"],
                        p["media_type"],
                        p["digest"],
                        base64.b64decode(p["body"], validate=True),
                    )
                    for p in body.get("pushes", ())
                ),
                blobs=tuple(
                    Descriptor(b["media_type"], b["digest"], b["size"])
                    for b in body.get("blobs", ())
                ),
                bytes=int(body.get("bytes", 0)),
                referrer=str(body.get("referrer", "")),
            )
        except (AttributeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise MessageError(f"image record does not decode: {type(exc).__name__}") from exc


def _job_value(value: object) -> str | list[str]:
    """A job field as stored: text, or a list of text (``platforms``)."""
    if isinstance(value, list):
        return [str(item) for item in value]
    return str(value)
