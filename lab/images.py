"""Seeded, byte-deterministic image sets to seed lab registries.

Layers are real gzipped tarballs whose file contents come from a random
generator seeded with ``(seed, label)``, so one layer's bytes do not depend on
how many other images are built. Output is identical for a seed on the same
Python and zlib. Docker manifests are written with 3-space indentation (as
Docker itself writes them) and OCI ones compactly: a copier that re-serialises
JSON instead of copying bytes changes their digests.

:func:`push_image_set` (from :mod:`lab.push`) uploads a set.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from typing import Any

from lab.content import Blob, ImageSet, Manifest, SeedImage, sha256
from lab.push import push_image_set
from lab.registry import LabError
from syncer.oci import mediatypes as mt

__all__ = [
    "Blob",
    "ImageSet",
    "Manifest",
    "SeedImage",
    "build_image_set",
    "push_image_set",
    "sha256",
]

#: Timestamp used for tar entries (2024-01-01T00:00:00Z) and image history.
EPOCH = 1704067200
CREATED = "2024-01-01T00:00:00Z"
WINDOWS_VERSION = "10.0.20348.2227"
#: The four platforms of the Docker manifest list, as ``(os, architecture, variant)``.
PLATFORMS = (
    ("linux", "amd64", ""),
    ("linux", "arm64", "v8"),
    ("linux", "arm", "v7"),
    ("windows", "amd64", ""),
)


@dataclass(frozen=True, slots=True)
class _Layer:
    data: bytes = field(repr=False)
    diff_id: str
    label: str

    def blob(self, media_type: str) -> Blob:
        return Blob(sha256(self.data), len(self.data), media_type, self.data)


@dataclass(frozen=True, slots=True)
class _Node:
    manifest: Manifest
    manifests: tuple[Manifest, ...]
    blobs: tuple[Blob, ...]


class _RandomFile:
    """Readable file of ``size`` seeded random bytes, produced as tarfile asks for them."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self._rng, self._left = rng, size

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        return self._rng.randbytes(n)


class _DiffIdWriter:
    """Passes the uncompressed tar on to gzip while hashing it into the diff_id."""

    def __init__(self, out: gzip.GzipFile) -> None:
        self._out, self._hash, self._pos = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self._pos += len(data)
        return self._out.write(data)

    def tell(self) -> int:
        return self._pos

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def _layer(seed: int, label: str, size: int, files: int) -> _Layer:
    """A gzipped tar of ``files`` random files, streamed so only the output is held in memory."""
    rng = random.Random(f"{seed}:{label}")
    buf = io.BytesIO()
    root = "lab/" + label.replace(":", "_").replace("/", "_")
    sizes = [size // files + (1 if i < size % files else 0) for i in range(files)]
    entries = [(root, -1)] + [(f"{root}/file{i}.bin", n) for i, n in enumerate(sizes)]
    # Level 0 (stored deflate blocks): random content cannot shrink anyway, and a
    # 96 MiB layer then takes under a second instead of several.
    with gzip.GzipFile(filename="", mode="wb", compresslevel=0, fileobj=buf, mtime=0) as gz:
        raw = _DiffIdWriter(gz)
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:  # type: ignore[call-overload]
            for name, n in entries:
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "", ""
                if n < 0:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.size, info.mode = n, 0o644
                    tar.addfile(info, _RandomFile(rng, n))
    return _Layer(buf.getvalue(), raw.digest, label)


def _platform(os_: str, arch: str, variant: str) -> dict[str, str]:
    platform = {"architecture": arch, "os": os_}
    if variant:
        platform["variant"] = variant
    if os_ == "windows":
        platform["os.version"] = WINDOWS_VERSION
    return platform


def _encode(obj: dict[str, Any], oci: bool) -> bytes:
    if oci:
        return json.dumps(obj, separators=(",", ":")).encode()
    return json.dumps(obj, indent=3).encode()


def _image(layers: list[_Layer], platform: dict[str, str], label: str, oci: bool) -> _Node:
    config = {
        **platform,
        "created": CREATED,
        "config": {"Cmd": ["/bin/sh"], "Labels": {"org.syncer.lab": label}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": f"ADD {layer.label} /"} for layer in layers],
    }
    data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_blob = Blob(sha256(data), len(data), mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, data)
    blobs = [layer.blob(mt.OCI_LAYER if oci else mt.DOCKER_LAYER) for layer in layers]
    media_type = mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config_blob.descriptor(),
        "layers": [b.descriptor() for b in blobs],
    }
    if oci:
        body["annotations"] = {"org.opencontainers.image.created": CREATED}
    raw = _encode(body, oci)
    manifest = Manifest(media_type, raw, sha256(raw))
    unique = tuple({b.digest: b for b in [config_blob, *blobs]}.values())
    return _Node(manifest, (manifest,), unique)


def _index(children: list[tuple[_Node, dict[str, str] | None]], oci: bool) -> _Node:
    media_type = mt.OCI_INDEX if oci else mt.DOCKER_MANIFEST_LIST
    entries = []
    for node, platform in children:
        m = node.manifest
        entry: dict[str, Any] = {"mediaType": m.media_type, "size": m.size, "digest": m.digest}
        if platform:
            entry["platform"] = platform
        entries.append(entry)
    raw = _encode({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}, oci)
    manifest = Manifest(media_type, raw, sha256(raw))
    manifests = {m.digest: m for node, _ in children for m in node.manifests}
    blobs = {b.digest: b for node, _ in children for b in node.blobs}
    return _Node(manifest, (*manifests.values(), manifest), tuple(blobs.values()))


def _seed(repo: str, tag: str, node: _Node) -> SeedImage:
    m = node.manifest
    return SeedImage(repo, tag, m.digest, m.media_type, node.manifests, node.blobs)


def build_image_set(
    seed: int = 0,
    *,
    repos: int = 3,
    tags_per_repo: int = 2,
    layer_size: int = 32 * 1024,
    large_layer_size: int = 256 * 1024,
    files_per_layer: int = 3,
) -> ImageSet:
    """Build a realistic set of images, the same bytes for the same arguments.

    * ``lab/app0`` … ``lab/app{repos-1}``: tags ``v1`` … as Docker v2 images that
      share one base layer across repos and one app layer per repo;
    * ``lab/large:v1``: the base layer plus one of ``large_layer_size`` bytes
      (left out when it is 0);
    * ``lab/multi``: ``list`` (Docker manifest list of the :data:`PLATFORMS`),
      ``oci`` (OCI image manifest), ``index`` (OCI index) and ``nested`` (an
      OCI index holding the ``index`` index and one more image).
    """
    if repos < 0 or tags_per_repo < 1 or layer_size < 1 or files_per_layer < 1:
        raise LabError("repos must be >= 0; tags_per_repo, sizes and files must be >= 1")

    def layer(label: str, size: int) -> _Layer:
        return _layer(seed, label, size, files_per_layer)

    amd64 = _platform("linux", "amd64", "")
    base = layer("base", layer_size * 2)
    images: list[SeedImage] = []
    for r in range(repos):
        repo = f"lab/app{r}"
        app = layer(f"{repo}/app", layer_size)
        for t in range(1, tags_per_repo + 1):
            own = layer(f"{repo}:v{t}", max(1, layer_size // 8))
            node = _image([base, app, own], amd64, f"{repo}:v{t}", oci=False)
            images.append(_seed(repo, f"v{t}", node))
    if large_layer_size > 0:
        big = layer("lab/large", large_layer_size)
        images.append(_seed("lab/large", "v1", _image([base, big], amd64, "lab/large", False)))

    shared = layer("lab/multi/shared", layer_size)
    per_platform = {}
    for os_, arch, variant in PLATFORMS:
        platform = _platform(os_, arch, variant)
        label = "-".join(filter(None, [os_, arch, variant]))
        per_platform[label] = (platform, layer(f"lab/multi/{label}", layer_size))

    def image(label: str, oci: bool) -> tuple[_Node, dict[str, str]]:
        platform, own = per_platform[label]
        return _image([own, shared], platform, f"lab/multi:{label}", oci), platform

    docker_list = _index([image(label, False) for label in per_platform], oci=False)
    oci_index = _index([image("linux-amd64", True), image("linux-arm64-v8", True)], oci=True)
    s390x = _platform("linux", "s390x", "")
    extra = _image([base, layer("lab/multi/s390x", layer_size)], s390x, "lab/multi:s390x", True)
    nested = _index([(oci_index, None), (extra, s390x)], oci=True)
    oci_image = _image([base, layer("lab/multi/oci", layer_size)], amd64, "lab/multi:oci", True)
    for tag, node in (
        ("list", docker_list),
        ("oci", oci_image),
        ("index", oci_index),
        ("nested", nested),
    ):
        images.append(_seed("lab/multi", tag, node))
    return ImageSet(tuple(images))
