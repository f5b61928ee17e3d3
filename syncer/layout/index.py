"""A layout's ``index.json``: read with suspicion, rewritten whole.

Spec: OCI image-spec "Image Layout" (``index.json`` is an image index; a tag
is the ``org.opencontainers.image.ref.name`` annotation of a descriptor, as
skopeo writes it for ``oci:dir:tag``). The file is input like any server
reply: its size and entry count are capped, and every descriptor is checked
(:meth:`Descriptor.from_json`) before its digest names a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from syncer.errors import UnsupportedError
from syncer.oci import mediatypes
from syncer.oci.manifest import Descriptor

#: Most entries one layout's ``index.json`` may list.
MAX_LAYOUT_ENTRIES = 100_000


#: The annotation that names a tag in a layout's index.json.
REF_NAME = "org.opencontainers.image.ref.name"
#: ``oci-layout``'s content (image-spec "oci-layout file").
LAYOUT_VERSION = "1.0.0"
LAYOUT_FILE_BODY = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(slots=True)
class Index:
    """The entries of an ``index.json``, each as read (for rewriting) and as checked."""

    raw: list[dict[str, Any]] = field(default_factory=list)
    checked: list[Descriptor] = field(default_factory=list)
    #: The document's other fields (annotations, subject, ...), kept when rewritten.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: bytes, where: str) -> Index:
        """Parse ``index.json`` bytes; anything malformed is refused naming ``where``."""
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise UnsupportedError(f"{where}: index.json is not JSON") from exc
        items = doc.get("manifests") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise UnsupportedError(f"{where}: index.json has no manifests array")
        if len(items) > MAX_LAYOUT_ENTRIES:
            raise UnsupportedError(
                f"{where}: index.json lists more than {MAX_LAYOUT_ENTRIES} manifests"
            )
        checked = [Descriptor.from_json(item, f"{where} index.json") for item in items]
        extra = {
            k: v for k, v in doc.items() if k not in ("schemaVersion", "mediaType", "manifests")
        }
        return cls(list(items), checked, extra)

    def find(self, tag: str) -> Descriptor | None:
        """The descriptor tagged ``tag`` (the last one, should a tool have listed two)."""
        for desc in reversed(self.checked):
            if desc.annotations.get(REF_NAME) == tag:
                return desc
        return None

    def media_type_of(self, digest: str) -> str:
        """The media type index.json gives ``digest``, or ""."""
        return next((d.media_type for d in self.checked if d.digest == digest), "")

    def tags(self) -> list[str]:
        """Every tag, in index order, once each."""
        names = (d.annotations.get(REF_NAME) for d in self.checked)
        return list(dict.fromkeys(n for n in names if isinstance(n, str)))

    def tag(self, tag: str, media_type: str, digest: str, size: int) -> bool:
        """Point ``tag`` at the manifest; False when it already did."""
        current = self.find(tag)
        if current is not None and current.digest == digest:
            return False
        keep = [i for i, d in enumerate(self.checked) if d.annotations.get(REF_NAME) != tag]
        entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
        entry["annotations"] = {REF_NAME: tag}
        self.raw = [self.raw[i] for i in keep] + [entry]
        self.checked = [self.checked[i] for i in keep]
        self.checked.append(Descriptor.from_json(entry, "index.json"))
        return True

    def dumps(self) -> bytes:
        """The document to write: an OCI image index of the entries."""
        doc = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": self.raw}
        doc.update(self.extra)
        return json.dumps(doc, separators=(",", ":")).encode()


def sniff_media_type(body: bytes) -> str:
    """The ``mediaType`` a manifest names itself, or "" (OCI makes the field optional)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    media = doc.get("mediaType") if isinstance(doc, dict) else None
    return media if isinstance(media, str) else ""
