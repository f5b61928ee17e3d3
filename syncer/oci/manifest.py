"""Reading manifests: what they reference, and platform filtering of image lists.

Manifests are never re-serialised unless the platform filter actually removes
an entry: syncer pushes the exact bytes it pulled, so digests are preserved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from syncer import untrusted
from syncer.errors import UnsupportedError
from syncer.oci import digests, mediatypes
from syncer.oci.models import RawManifest

Kind = Literal["index", "image", "schema1"]


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor: what, where, how big."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Descriptor:
        """Build a descriptor, rejecting malformed ones."""
        if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
            raise UnsupportedError(f"{where}: descriptor without digest")
        _check_digest(obj["digest"], where)
        for key in ("platform", "annotations"):
            if not isinstance(obj.get(key) or {}, dict):
                raise UnsupportedError(f"{where}: descriptor {key} is not an object")
        # An absent size is unknown (-1), as for schema1 blobs: the copy then
        # streams whatever the source sends and the digest alone decides.
        size = obj.get("size", -1)
        if type(size) is not int or (size < 0 and "size" in obj):
            raise UnsupportedError(f"{where}: descriptor {obj['digest']} has invalid size")
        return cls(
            media_type=str(obj.get("mediaType", "")),
            digest=obj["digest"],
            size=size,
            platform=dict(obj.get("platform") or {}),
            annotations=dict(obj.get("annotations") or {}),
            urls=tuple(obj.get("urls") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for task arguments."""
        return {"media_type": self.media_type, "digest": self.digest, "size": self.size}


def _check_digest(digest: str, where: str) -> None:
    # Digests end up in URL paths, and must name an algorithm we can verify.
    digests.parse(digest, where)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A manifest's references: child manifests (for indexes) and blobs (for images)."""

    kind: Kind
    children: tuple[Descriptor, ...] = ()
    blobs: tuple[Descriptor, ...] = ()


def parse(raw: RawManifest, where: str) -> Parsed:
    """Classify a manifest and list what it references.

    Unknown media types are handled generically: anything with ``manifests``
    is an index, anything with ``config``/``layers``/``blobs`` is an image-like
    artifact whose descriptors are copied as blobs.
    """
    try:
        doc = untrusted.loads(raw.body)
    except ValueError as exc:
        raise UnsupportedError(f"{where}: manifest is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise UnsupportedError(f"{where}: manifest is not a JSON object")
    media = raw.media_type or str(doc.get("mediaType", ""))
    if media in mediatypes.SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        layers = doc.get("fsLayers") or []
        if not isinstance(layers, list) or not all(
            isinstance(layer, dict) and isinstance(layer.get("blobSum"), str) for layer in layers
        ):
            raise UnsupportedError(f"{where}: schema1 fsLayers entries need a blobSum")
        digests = list(dict.fromkeys(layer["blobSum"] for layer in layers))
        for digest in digests:
            _check_digest(digest, where)
        return Parsed("schema1", blobs=tuple(Descriptor("", d, -1) for d in digests))
    if media in mediatypes.INDEX_TYPES or "manifests" in doc:
        kids = tuple(Descriptor.from_json(m, where) for m in doc.get("manifests") or [])
        return Parsed("index", children=kids)
    blobs: list[Descriptor] = []
    if doc.get("config") is not None:
        blobs.append(Descriptor.from_json(doc["config"], where))
    for key in ("layers", "blobs"):
        blobs.extend(Descriptor.from_json(d, where) for d in doc.get(key) or [])
    if not blobs and media not in mediatypes.IMAGE_TYPES:
        raise UnsupportedError(f"{where}: unsupported manifest type {media or 'unknown'}")
    unique = {
        d.digest: d for d in blobs if not (mediatypes.is_foreign_layer(d.media_type) or d.urls)
    }
    return Parsed("image", blobs=tuple(unique.values()))


@dataclass(frozen=True, slots=True)
class PlatformFilter:
    """``--os`` / ``--arch`` filter: ``linux``, ``windows:10.0.17763``, ``arm64:v8``."""

    oses: tuple[str, ...] = ()
    archs: tuple[str, ...] = ()

    @classmethod
    def from_flags(cls, oses: list[str], archs: list[str]) -> PlatformFilter:
        """Accept repeated flags and comma lists alike."""

        def split(values: list[str]) -> tuple[str, ...]:
            return tuple(v.strip() for item in values for v in item.split(",") if v.strip())

        return cls(split(oses), split(archs))

    @property
    def active(self) -> bool:
        """Whether the filter removes anything at all."""
        return bool(self.oses or self.archs)

    def matches(self, platform: dict[str, Any]) -> bool:
        """Whether an index entry's platform passes the filter."""
        return _match(self.oses, platform.get("os"), platform.get("os.version")) and _match(
            self.archs, platform.get("architecture"), platform.get("variant")
        )

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-ready form."""
        return {"os": list(self.oses), "arch": list(self.archs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PlatformFilter:
        """The filter :meth:`to_dict` wrote (a plan's or a schedule's); None is no filter."""
        data = data or {}
        return cls(tuple(data.get("os", ())), tuple(data.get("arch", ())))


def _match(wanted: tuple[str, ...], value: Any, detail: Any) -> bool:
    if not wanted:
        return True
    for item in wanted:
        name, _, sub = item.partition(":")
        if name == value and (not sub or sub == detail or str(detail or "").startswith(sub + ".")):
            return True
    return False


def filter_index(raw: RawManifest, parsed: Parsed, flt: PlatformFilter) -> tuple[RawManifest, int]:
    """Drop index entries the filter rejects; return the manifest and how many were dropped.

    The manifest is rewritten only when something was removed. Nested indexes
    are kept (their own entries are filtered when they are copied), and
    attestation manifests follow the image they describe.
    """
    if not flt.active or parsed.kind != "index":
        return raw, 0
    doc = untrusted.loads(raw.body)  # parsed once already: it is JSON
    kept_digests = {
        d.digest
        for d in parsed.children
        if d.media_type in mediatypes.INDEX_TYPES or (d.platform and flt.matches(d.platform))
    }
    entries = []
    for entry, desc in zip(doc.get("manifests") or [], parsed.children, strict=True):
        ref = desc.annotations.get("vnd.docker.reference.digest")
        if desc.digest in kept_digests or (ref is not None and ref in kept_digests):
            entries.append(entry)
    dropped = len(parsed.children) - len(entries)
    if dropped == 0:
        return raw, 0
    doc["manifests"] = entries
    try:
        body = json.dumps(doc, indent=3).encode()
    except RecursionError:  # nesting that loads allowed may still be too deep to write here
        raise UnsupportedError(
            "index nested too deeply to rewrite for the platform filter"
        ) from None
    return RawManifest(body, raw.media_type, digests.compute(body)), dropped
