"""Small images with a created time of our choosing, for ``latest:`` by created time.

The lab's images all share one created time; these differ only in it (and in
a label, so every tag has its own digest). Each holds one tiny layer.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile

from lab.content import Blob, ImageSet, Manifest, SeedImage, sha256
from syncer.oci import mediatypes as mt


def _layer(label: str) -> tuple[Blob, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = label.encode()
        info = tarfile.TarInfo("label")
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, mtime=0)
    return Blob(sha256(gz), len(gz), mt.OCI_LAYER, gz), sha256(tar_bytes)


def dated_image(repo: str, tag: str, created: str, arch: str = "amd64") -> SeedImage:
    """``repo:tag``, an OCI image built at ``created`` (RFC 3339) for linux/``arch``."""
    layer, diff_id = _layer(f"{repo}:{tag}")
    config = {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {"Labels": {"org.syncer.test": f"{repo}:{tag}"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    data = json.dumps(config, sort_keys=True).encode()
    blob = Blob(sha256(data), len(data), mt.OCI_CONFIG, data)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": blob.descriptor(),
            "layers": [layer.descriptor()],
        }
    ).encode()
    manifest = Manifest(mt.OCI_MANIFEST, body, sha256(body))
    return SeedImage(repo, tag, manifest.digest, mt.OCI_MANIFEST, (manifest,), (blob, layer))


#: Tags of ``lab/app`` and when each image was built, in push (and listing) order.
BUILT = {
    "old-build": "2023-01-01T00:00:00Z",
    "v1.0.0": "2024-01-01T00:00:00Z",
    "v1.1.0": "2024-02-01T00:00:00Z",
    "v1.2.0-rc1": "2024-03-01T00:00:00Z",
    "v1.2.0": "2024-03-15T00:00:00Z",
    "v2.0.0": "2024-04-01T00:00:00Z",
    "main": "2024-05-01T00:00:00.123456789Z",
    "sha-abc": "2024-06-01T00:00:00Z",
}
DATED = ImageSet(tuple(dated_image("lab/app", tag, when) for tag, when in BUILT.items()))
