"""Fakes for the engine's copy path, shared by its embedded and fleet unit tests.

A blob cache that records the order of its calls, a copier that records what
it was asked to mount from, and an image whose first manifest push is refused
with ``MANIFEST_BLOB_UNKNOWN`` on a fake registry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from syncer.engine.copypath import KnownBlobs, Resolved
from syncer.engine.jobs import TagJob
from syncer.oci import mediatypes
from syncer.oci.manifest import Descriptor
from syncer.oci.models import RawManifest
from syncer.oci.reference import ImageRef, Repository
from syncer.registry.client import RegistryClient
from tests.support.fakes import FakeTransport, Reply, client, json_reply, open_registry, replies

SRC = Repository.parse("src.example/team/app")
DST = Repository.parse("dst.example/mirror/app")
#: A second repository of the destination registry, to mount into.
OTHER = Repository.parse("dst.example/mirror/other")
PRESENT = b"a layer the destination still has"
GONE = b"a layer the destination garbage collected"
MANIFEST = b'{"schemaVersion": 2}'


def digest_of(data: bytes) -> str:
    """The sha256 digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(data: bytes) -> Descriptor:
    """A layer descriptor of ``data``."""
    return Descriptor(mediatypes.OCI_LAYER, digest_of(data), len(data))


@dataclass
class RecordingCache:
    """Wraps a real cache and records each call, so tests can check the order."""

    inner: KnownBlobs
    calls: list[tuple[str, str]] = field(default_factory=list)

    def add(self, registry: str, repo: str, digest: str) -> None:
        self.calls.append(("add", digest))
        self.inner.add(registry, repo, digest)

    def discard(self, registry: str, repo: str, digest: str) -> None:
        self.calls.append(("discard", digest))
        self.inner.discard(registry, repo, digest)

    def repos_with(self, registry: str, digest: str) -> list[str]:
        self.calls.append(("repos_with", digest))
        return self.inner.repos_with(registry, digest)


@dataclass
class FakeCopier:
    """Answers ``outcome`` (or raises ``error``) and remembers each call's mount sources."""

    outcome: str = "copied"
    error: Exception | None = None
    mounts: list[list[Repository]] = field(default_factory=list)

    def copy(
        self, src: Repository, dst: Repository, desc: Descriptor, *, mount_from: list[Repository]
    ) -> str:
        self.mounts.append(list(mount_from))
        if self.error is not None:
            raise self.error
        return self.outcome


class FakePool:
    """A client pool whose every client talks to ``transport``."""

    def __init__(self, transport: FakeTransport) -> None:
        self._transport = transport

    def for_repo(self, repo: Repository) -> RegistryClient:
        return client(self._transport, host=repo.registry)


def image() -> Resolved:
    """A one-manifest image with two layers, to push as ``dst.example/mirror/app:v1``."""
    job = TagJob(ImageRef(SRC, "v1"), ImageRef(DST, "v1"), "src.example/team/app:v1")
    blobs = {d.digest: d for d in (layer(PRESENT), layer(GONE))}
    raw = RawManifest(MANIFEST, mediatypes.OCI_MANIFEST, digest_of(MANIFEST))
    return Resolved(job, raw.digest, pushes=[("v1", raw)], blobs=blobs)


def manifest_url() -> str:
    """Where the image's tag is pushed."""
    return f"https://dst.example/v2/{DST.path}/manifests/v1"


def blob_url(repo: Repository, data: bytes) -> str:
    """The blob URL of ``data`` in ``repo``."""
    return f"https://{repo.registry}/v2/{repo.path}/blobs/{digest_of(data)}"


def stale_cache_registry(first_push: Reply | None = None) -> FakeTransport:
    """Source and destination where the first push is refused, by default for a missing blob.

    The destination still has :data:`PRESENT` and lost :data:`GONE`, which is
    then uploaded again from the source.
    """
    refused = first_push or json_reply(
        {"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown"}]}, 400
    )
    fake = FakeTransport()
    open_registry(fake, "src.example")
    open_registry(fake, "dst.example")
    fake.on("PUT", manifest_url(), replies(refused, Reply(201)))
    # The HEAD that confirms the pushed tag: it names the pushed digest.
    fake.on("HEAD", manifest_url(), Reply(200, {"Docker-Content-Digest": digest_of(MANIFEST)}))
    fake.on("HEAD", blob_url(DST, PRESENT), Reply(200, {"Content-Length": str(len(PRESENT))}))
    fake.on("HEAD", blob_url(DST, GONE), Reply(404))
    fake.on("GET", blob_url(SRC, GONE), Reply(200, {"Content-Length": str(len(GONE))}, GONE))
    uploads = f"https://dst.example/v2/{DST.path}/blobs/uploads/"
    fake.on("POST", uploads, Reply(202, {"Location": uploads + "u1"}))
    fake.on("PUT", uploads + "u1", Reply(201))
    return fake
