"""The benchmark's source data set: seeded once into a persistent registry, then reused.

Three parts, each seeded on first use and recorded in a marker file next to
the registry's storage, so later runs start the source registry on the same
storage and push nothing:

* ``main``: :func:`lab.images.build_image_set` at the profile's size —
  ``lab/app0..N`` with several Docker v2 tags each, one base layer shared by
  every repository, one app layer per repository and one small layer per tag;
  ``lab/large:v1`` with the one large layer; ``lab/multi`` with a 4-platform
  Docker manifest list, an OCI image, an OCI index and a nested index;
* ``big``: ``bench/big0..7``, each one distinct big layer (scenario e);
* ``many``: ``bench/many`` with thousands of tags of one tiny manifest (scenarios f, h);
* ``small{N}``: ``bench/small{N}`` with N small images sharing one base layer (scenario g);
* ``signed{N}``: ``bench/signed{N}``, the same, each image with a signature and an
  SBOM in the Referrers Tag Schema form (scenario i).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.blobpush import push_small_tags, push_streamed_image, tag_many
from bench.settings import SEED, SMALL_BASE_SIZE, SMALL_LAYER_SIZE, Profile
from bench.signing import sign_tags
from lab.images import build_image_set, push_image_set

log = logging.getLogger(__name__)

MARKER = "seeded.json"
BIG_REPO = "bench/big{0}"
MANY_REPO = "bench/many"
SMALL_REPO = "bench/small{0}"
SIGNED_REPO = "bench/signed{0}"
#: The repository of lab.images holding the large layer.
LARGE_REPO = "lab/large"


@dataclass(frozen=True, slots=True)
class MainSet:
    """What the ``main`` part holds, as the scenarios need it."""

    #: Repository paths, e.g. ``lab/app0``.
    repos: tuple[str, ...]
    images: int
    blobs: int
    total_bytes: int
    largest_blob: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the marker."""
        return {
            "repos": list(self.repos),
            "images": self.images,
            "blobs": self.blobs,
            "total_bytes": self.total_bytes,
            "largest_blob": self.largest_blob,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MainSet:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(data["repos"]),
            int(data["images"]),
            int(data["blobs"]),
            int(data["total_bytes"]),
            int(data["largest_blob"]),
        )


class Dataset:
    """The seeded parts of one profile in the source registry at ``base_url``."""

    def __init__(self, profile: Profile, base_url: str, workdir: Path) -> None:
        self.profile, self.base_url, self.workdir = profile, base_url, workdir
        self._marker = workdir / MARKER

    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._marker.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        # A marker from other sizes or another seed describes other bytes: start over.
        if data.get("profile") != self.profile.to_dict() or data.get("seed") != SEED:
            return {}
        return data

    def _save(self, part: str, value: Any) -> None:
        data = self._load() or {"profile": self.profile.to_dict(), "seed": SEED}
        data[part] = value
        self._marker.write_text(json.dumps(data, indent=1))

    @staticmethod
    def stale(profile: Profile, workdir: Path) -> bool:
        """Whether ``workdir`` holds data of other sizes (its storage must be wiped)."""
        marker = workdir / MARKER
        if not marker.exists():
            return False
        return Dataset(profile, "", workdir)._load() == {}

    def main(self) -> MainSet:
        """The ``main`` part, pushed now if it is not there yet."""
        known = self._load().get("main")
        if known:
            return MainSet.from_dict(known)
        p = self.profile
        started = time.monotonic()
        images = build_image_set(
            SEED,
            repos=p.repos,
            tags_per_repo=p.tags_per_repo,
            layer_size=p.layer_size,
            large_layer_size=p.large_layer_size,
        )
        blobs = images.blobs()
        push_image_set(self.base_url, images)
        main = MainSet(
            tuple(images.repos),
            len(images.images),
            len(blobs),
            sum(b.size for b in blobs.values()),
            max(b.size for b in blobs.values()),
        )
        log.info("seeded main set: %s in %.1fs", main, time.monotonic() - started)
        self._save("main", main.to_dict())
        return main

    def big(self) -> list[str]:
        """The ``big`` part's repositories, pushed now if needed."""
        repos = [BIG_REPO.format(i) for i in range(self.profile.big_blobs)]
        if not self._load().get("big"):
            started = time.monotonic()
            for i, repo in enumerate(repos):
                push_streamed_image(
                    self.base_url, repo, "v1", f"{SEED}:big:{i}", self.profile.big_blob_size
                )
            log.info("seeded %d big layers in %.1fs", len(repos), time.monotonic() - started)
            self._save("big", repos)
        return repos

    def many(self) -> str:
        """The ``many`` part's repository, pushed now if needed."""
        if not self._load().get("many"):
            started = time.monotonic()
            tags = [f"t{i:05d}" for i in range(self.profile.many_tags)]
            tag_many(self.base_url, MANY_REPO, tags)
            log.info("seeded %d tags in %.1fs", len(tags), time.monotonic() - started)
            self._save("many", MANY_REPO)
        return MANY_REPO

    def small(self, count: int) -> str:
        """The ``small{count}`` part's repository, pushed now if needed."""
        repo, part = SMALL_REPO.format(count), f"small{count}"
        if not self._load().get(part):
            started = time.monotonic()
            push_small_tags(
                self.base_url,
                repo,
                small_tag_names(count),
                seed=f"{SEED}:{part}",
                base_size=SMALL_BASE_SIZE,
                layer_size=SMALL_LAYER_SIZE,
            )
            log.info("seeded %d small tags in %.1fs", count, time.monotonic() - started)
            self._save(part, repo)
        return repo

    def signed(self, count: int) -> str:
        """The ``signed{count}`` part's repository, pushed and signed now if needed."""
        repo, part = SIGNED_REPO.format(count), f"signed{count}"
        if not self._load().get(part):
            started = time.monotonic()
            tags = small_tag_names(count)
            push_small_tags(
                self.base_url,
                repo,
                tags,
                seed=f"{SEED}:{part}",
                base_size=SMALL_LAYER_SIZE,
                layer_size=SMALL_LAYER_SIZE,
            )
            sign_tags(self.base_url, repo, tags)
            log.info("seeded %d signed tags in %.1fs", count, time.monotonic() - started)
            self._save(part, repo)
        return repo


def small_tag_names(count: int) -> list[str]:
    """The tags of a ``small`` part: ``s00000`` onwards."""
    return [f"s{i:05d}" for i in range(count)]
