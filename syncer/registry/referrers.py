"""Reading and writing what refers to a manifest, at the API level.

Spec: distribution-spec 1.1, "Listing Referrers" (``GET /v2/<name>/referrers/<digest>``,
an image index of descriptors with ``artifactType``) and "Referrers Tag Schema"
(the same index pushed under the tag ``<alg>-<hex>`` where a registry has no API).
Every read is capped, every descriptor checked (:class:`ReferrerEntry`), and
the fallback index is written back byte-for-byte only when it changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from syncer import defaults, untrusted
from syncer.errors import NotFoundError, UnsupportedError
from syncer.oci import digests, mediatypes
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository
from syncer.registry import transport
from syncer.registry.api import Registry
from syncer.registry.connection import RegistryConnection, pull_scope

#: Most referrers one subject may list; a longer list is refused, not truncated.
MAX_REFERRERS = 1000


#: The descriptor fields a referrers index keeps (spec: "Listing Referrers").
#: Hex digits of a digest's encoded part, by algorithm (the registered ones).
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_KEPT = ("mediaType", "digest", "size", "artifactType", "annotations")


@dataclass(frozen=True, slots=True)
class ReferrerEntry:
    """One descriptor of a referrers list: the referrer's digest, type and the raw fields."""

    digest: str
    media_type: str
    artifact_type: str
    #: The descriptor as the list gave it (only :data:`_KEPT` keys), for the fallback index.
    fields: tuple[tuple[str, Any], ...]

    @classmethod
    def from_json(cls, obj: object, where: str) -> ReferrerEntry:
        """A checked descriptor; anything malformed is refused naming ``where``."""
        if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
            raise UnsupportedError(f"{where}: referrer descriptor without digest")
        digests.parse(obj["digest"], where)
        size, annotations = obj.get("size", 0), obj.get("annotations") or {}
        if type(size) is not int or size < 0 or not isinstance(annotations, dict):
            raise UnsupportedError(f"{where}: referrer {obj['digest']} is malformed")
        kept = {k: obj[k] for k in _KEPT if k in obj}
        return cls(
            digest=obj["digest"],
            media_type=str(obj.get("mediaType", "")),
            artifact_type=str(obj.get("artifactType", "")),
            fields=tuple(kept.items()),
        )

    @property
    def is_index(self) -> bool:
        """Whether the referrer is an index (its children may have referrers too)."""
        return self.media_type in mediatypes.INDEX_TYPES

    def to_json(self) -> dict[str, Any]:
        """The descriptor for an index."""
        return dict(self.fields)


def is_fallback_tag(tag: str) -> bool:
    """Whether ``tag`` has the Referrers Tag Schema form, ``<algorithm>-<hex of a digest>``."""
    algorithm, sep, hexpart = tag.partition("-")
    if not sep or algorithm not in _HEX_LENGTHS or len(hexpart) != _HEX_LENGTHS[algorithm]:
        return False
    return all(c in "0123456789abcdef" for c in hexpart)


def fallback_tag(digest: str) -> str:
    """The Referrers Tag Schema tag of ``digest``: ``sha256:ab..`` -> ``sha256-ab..``."""
    parsed = digests.parse(digest, "referrers subject")
    return f"{parsed.algorithm}-{parsed.hex}"


def _entries(body: bytes, where: str) -> list[ReferrerEntry]:
    try:
        doc = untrusted.loads(body)
    except ValueError as exc:
        raise UnsupportedError(f"{where}: referrers list is not JSON") from exc
    items = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise UnsupportedError(f"{where}: referrers list has no manifests array")
    if len(items) > MAX_REFERRERS:
        raise UnsupportedError(f"{where}: more than {MAX_REFERRERS} referrers")
    return [ReferrerEntry.from_json(item, where) for item in items]


def list_api(
    client: Registry, repo: Repository, digest: str, artifact_type: str = ""
) -> list[ReferrerEntry] | None:
    """The referrers API's list for ``digest``; None when the registry has no API (404).

    ``artifact_type`` is a hint the registry may ignore, so callers filter again.
    """
    digests.parse(digest, f"referrers of {repo}")  # before it reaches a URL
    if not isinstance(client, RegistryConnection):
        # An OCI image layout has no referrers API: its referrers are listed
        # by the tag schema (a ``sha256-<hex>`` tag in index.json).
        return None
    what = f"GET referrers {repo}@{digest}"
    resp = client.request(
        "GET",
        f"/v2/{repo.path}/referrers/{digest}",
        (pull_scope(repo),),
        what=what,
        expect_404=True,
        stream=True,
        headers={"Accept": mediatypes.OCI_INDEX},
        params={"artifactType": artifact_type} if artifact_type else None,
    )
    if resp.status_code == 404:
        resp.close()
        return None
    return _entries(transport.read_capped(resp, defaults.max_manifest(), what), what)


def read_fallback(
    client: Registry, repo: Repository, digest: str
) -> tuple[RawManifest | None, list[ReferrerEntry]]:
    """The fallback index of ``digest`` and its entries; ``(None, [])`` when there is none."""
    tag = fallback_tag(digest)
    try:
        raw = client.get_manifest(repo, tag)
    except NotFoundError:
        return None, []
    return raw, _entries(raw.body, f"{repo}:{tag}")


def merged_index(current: list[ReferrerEntry], adding: list[ReferrerEntry]) -> bytes | None:
    """The fallback index with ``adding`` appended, or None when each is already listed.

    Entries already there keep their order and bytes (spec: clients "SHOULD
    preserve" what others pushed); only the missing ones are added.
    """
    known = {e.digest for e in current}
    new = [e for e in adding if e.digest not in known]
    if not new:
        return None
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [e.to_json() for e in [*current, *new]],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def write_fallback(
    client: Registry,
    repo: Repository,
    digest: str,
    adding: list[ReferrerEntry],
    source: RawManifest | None = None,
) -> bool:
    """Add ``adding`` to the fallback index of ``digest`` at ``repo``; True if it was written.

    ``source`` is the source's own index for ``digest``, where it has one: once
    the destination would list exactly the referrers it lists, the destination
    gets its bytes, so a mirror's index tag is byte-identical to the source's
    whatever order the referrers landed in.
    """
    now, current = read_fallback(client, repo, digest)
    if source is not None and (now is None or now.digest != source.digest):
        listed = {e.digest for e in [*current, *adding]}
        if listed == {e.digest for e in _entries(source.body, f"source {fallback_tag(digest)}")}:
            client.put_manifest(repo, fallback_tag(digest), source)
            return True
    body = merged_index(current, adding)
    if body is None:
        return False
    raw = RawManifest(body, mediatypes.OCI_INDEX, digests.compute(body))
    client.put_manifest(repo, fallback_tag(digest), raw)
    return True
