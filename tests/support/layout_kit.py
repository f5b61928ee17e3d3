"""Small images written straight into OCI layouts, for unit tests that need no registry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from syncer.layout.client import LayoutClient
from syncer.oci import mediatypes
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository


def digest_of(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Small:
    """A one-layer OCI image: its blobs and its manifest."""

    config: bytes
    layer: bytes
    manifest: RawManifest


def small_image(label: str, layer: bytes | None = None) -> Small:
    """An OCI image whose config names ``label``; ``layer`` defaults to bytes of its own."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "label": label}).encode()
    layer = layer if layer is not None else f"layer of {label}".encode() * 100
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG,
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": mediatypes.OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
        ],
    }
    body = json.dumps(doc).encode()
    return Small(config, layer, RawManifest(body, mediatypes.OCI_MANIFEST, digest_of(body)))


def upload(client: LayoutClient, repo: Repository, data: bytes) -> str:
    """Write one blob through an upload session; return its digest."""
    digest = digest_of(data)
    session = client.start_upload(repo)
    client.finish_upload(repo, session, digest, data)
    return digest


def write_image(client: LayoutClient, repo: Repository, tag: str, image: Small) -> None:
    """Upload ``image``'s blobs and tag its manifest."""
    upload(client, repo, image.config)
    upload(client, repo, image.layer)
    client.put_manifest(repo, tag, image.manifest)


def layout_repo(path: Path) -> Repository:
    """The ``oci:`` repository of ``path``."""
    return Repository.parse(f"oci:{path}")
