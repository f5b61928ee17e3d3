"""What the lab generates: blobs, manifests, and the tagged images they form."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def sha256(data: bytes) -> str:
    """The ``sha256:`` content digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    """A config or layer blob with the media type its manifest gives it."""

    digest: str
    size: int
    media_type: str
    data: bytes = field(repr=False)

    def descriptor(self) -> dict[str, Any]:
        """The OCI/Docker descriptor pointing at this blob."""
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index exactly as pushed."""

    media_type: str
    body: bytes = field(repr=False)
    digest: str

    @property
    def size(self) -> int:
        """Length of the body in bytes."""
        return len(self.body)


@dataclass(frozen=True, slots=True)
class SeedImage:
    """One tag and everything reachable from it."""

    repo: str
    tag: str
    digest: str
    media_type: str
    #: Every reachable manifest, children before parents; the tagged one is last.
    manifests: tuple[Manifest, ...]
    #: Every reachable config and layer, unique by digest.
    blobs: tuple[Blob, ...]

    @property
    def reference(self) -> str:
        """``repo:tag``."""
        return f"{self.repo}:{self.tag}"


@dataclass(frozen=True, slots=True)
class ImageSet:
    """The images one seed produced."""

    images: tuple[SeedImage, ...]

    @property
    def repos(self) -> list[str]:
        """Repository names, in first-seen order."""
        return list(dict.fromkeys(i.repo for i in self.images))

    def get(self, repo: str, tag: str) -> SeedImage:
        """The image tagged ``repo:tag``."""
        for image in self.images:
            if (image.repo, image.tag) == (repo, tag):
                return image
        raise KeyError(f"{repo}:{tag}")

    def blobs(self) -> dict[str, Blob]:
        """Every distinct blob, by digest."""
        return {b.digest: b for i in self.images for b in i.blobs}
