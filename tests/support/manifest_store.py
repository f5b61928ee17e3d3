"""A registry in memory for expansion and created-time tests: manifests, blobs, tag lists.

It stands in for :class:`~syncer.registry.client.RegistryClient` where a test
needs only ``get_manifest``, ``open_blob`` and ``list_tags``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from syncer.errors import NotFoundError
from syncer.oci import digests, mediatypes
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository


class _Resp:
    def __init__(self, body: bytes) -> None:
        self.body, self.url = body, "http://x/blob"

    def iter_content(self, size: int) -> Iterator[bytes]:
        yield self.body

    def close(self) -> None:
        pass


class Registry:
    """Manifests by tag or digest and blobs by digest; counts blob reads."""

    def __init__(self) -> None:
        self.manifests: dict[str, RawManifest] = {}
        self.blobs: dict[str, bytes] = {}
        self.blob_reads: list[str] = []
        self.delay = 0.0
        self.lock = threading.Lock()

    def image(self, tag: str | None, config: dict[str, Any]) -> RawManifest:
        body = json.dumps(config).encode()
        digest = digests.compute(body)
        self.blobs[digest] = body
        doc = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": digest, "size": len(body)},
            "layers": [],
        }
        return self._put(tag, doc, mediatypes.OCI_MANIFEST)

    def index(self, tag: str, children: list[tuple[RawManifest, dict[str, str]]]) -> None:
        doc = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": [
                {"mediaType": m.media_type, "digest": m.digest, "size": len(m.body), "platform": p}
                for m, p in children
            ],
        }
        self._put(tag, doc, mediatypes.OCI_INDEX)

    def _put(self, tag: str | None, doc: dict[str, Any], media: str) -> RawManifest:
        body = json.dumps(doc).encode()
        raw = RawManifest(body, media, digests.compute(body))
        self.manifests[raw.digest] = raw
        if tag:
            self.manifests[tag] = raw
        return raw

    def get_manifest(self, repo: Repository, reference: str) -> RawManifest:
        if reference not in self.manifests:
            raise NotFoundError(f"{repo}:{reference}: MANIFEST_UNKNOWN", status=404)
        return self.manifests[reference]

    def open_blob(self, repo: Repository, digest: str, offset: int = 0) -> _Resp:
        with self.lock:
            self.blob_reads.append(digest)
        time.sleep(self.delay)  # long enough for parallel readers of one digest to overlap
        return _Resp(self.blobs[digest])


class Listing(Registry):
    """A registry that also lists tags, in the order given."""

    def __init__(self, tags: list[str]) -> None:
        super().__init__()
        self.tags, self.gets = tags, list[str]()

    def list_tags(self, repo: Repository, fetch: Any = None) -> Iterator[str]:
        return iter(self.tags)

    def get_manifest(self, repo: Repository, reference: str) -> RawManifest:
        self.gets.append(reference)
        return super().get_manifest(repo, reference)


class Pool:
    """A client pool that hands out one client for every repository."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def for_repo(self, repo: Repository) -> Any:
        return self.client
