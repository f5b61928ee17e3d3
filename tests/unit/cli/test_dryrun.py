"""``sync --dry-run``: one line per image, blobs counted once, and nothing written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest

from syncer.cli import dryrun
from syncer.config.files import SyncConfig
from syncer.embedded.executor import EmbeddedSync
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.copypath import Resolved
from syncer.engine.jobs import ImageResult, TagJob
from syncer.engine.options import SyncOptions
from syncer.errors import RegistryError
from syncer.oci.manifest import Descriptor
from syncer.oci.models import RawManifest
from syncer.oci.reference import ImageRef, Repository

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
A, B, C, D = (f"sha256:{c * 64}" for c in "abcd")
MiB = 1024 * 1024
MANIFEST = RawManifest(b"{}", "application/vnd.oci.image.manifest.v1+json", D)


def _job(name: str) -> TagJob:
    return TagJob(ImageRef.parse(f"s.io/{name}"), ImageRef.parse(f"d.io/{name}"))


@dataclass
class _Destination:
    """A registry client that has some blobs, and records every HEAD."""

    present: set[str]
    heads: list[str] = field(default_factory=list)

    def blob_exists(self, repo: Repository, digest: str) -> bool:
        self.heads.append(digest)
        return digest in self.present


@dataclass
class _Pool:
    dest: _Destination

    def for_repo(self, repo: Repository) -> _Destination:
        return self.dest


@dataclass
class _Stats:
    results: list[ImageResult] = field(default_factory=list)


@dataclass
class _Runner:
    """What ``dry_run`` reads of an :class:`EmbeddedSync`."""

    jobs: list[TagJob]
    pool: _Pool
    cache: MemoryBlobCache = field(default_factory=MemoryBlobCache)
    stats: _Stats = field(default_factory=_Stats)
    options: SyncOptions = field(default_factory=lambda: SyncOptions(proc=2))
    config: SyncConfig = field(default_factory=lambda: SyncConfig({}, (), {}))

    def expand(self) -> list[TagJob]:
        return self.jobs


def _blobs(*pairs: tuple[str, int]) -> dict[str, Descriptor]:
    return {digest: Descriptor(LAYER, digest, size) for digest, size in pairs}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> _Runner:
    """Four images: two share blob B, one is up to date, one fails to resolve."""
    answers: dict[str, Resolved | Exception] = {
        "app:1": Resolved(
            _job("app:1"), pushes=[("1", MANIFEST)], blobs=_blobs((A, MiB), (B, MiB))
        ),
        "app:2": Resolved(
            _job("app:2"), pushes=[("2", MANIFEST)], blobs=_blobs((B, MiB), (C, 2048))
        ),
        "old:1": Resolved(_job("old:1"), skip="unchanged"),
        "bad:1": RegistryError("manifest\nunknown\x1b[2J"),
    }

    def resolve(job: TagJob, pool: object, **_: object) -> Resolved:
        answer = answers[str(job.source).split("/", 1)[1]]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(dryrun, "resolve", resolve)
    fake = _Runner([_job(name) for name in answers], _Pool(_Destination(present={C})))
    fake.cache.add("d.io", "app", A)  # known there: no HEAD needed
    fake.stats.results.append(ImageResult("s.io/gone:*", "", "failed", "no tags\x07"))
    return fake


def test_one_line_per_image_and_a_total(runner: _Runner) -> None:
    report = dryrun.dry_run(cast(EmbeddedSync, runner))
    lines = report.text.splitlines()
    assert lines == [
        "copy  s.io/app:1 -> d.io/app:1: 1 manifest(s), 1 of 2 blobs missing, 1.0 MiB",
        "copy  s.io/app:2 -> d.io/app:2: 1 manifest(s), 1 of 2 blobs missing, 1.0 MiB",
        "skip  s.io/old:1 -> d.io/old:1: unchanged",
        "fail  s.io/bad:1 -> d.io/bad:1: manifest unknown\\x1b[2J",
        "fail  s.io/gone:*: no tags\\x07",
        "dry run: 2 of 4 images would be copied; 1 blobs, 1.0 MiB (1048576 bytes) to transfer"
        " (nothing was written)",
    ]
    assert report.failed == 2, "the real run would fail those two: its exit code follows"


def test_blobs_the_cache_knows_are_not_asked_for_and_nothing_is_recorded(runner: _Runner) -> None:
    """The destination is only asked HEAD (it has no other method here); the cache is not fed."""
    dryrun.dry_run(cast(EmbeddedSync, runner))
    assert A not in runner.pool.dest.heads
    assert sorted(runner.pool.dest.heads) == [B, B, C]
    assert not any(runner.cache.has("d.io", "app", digest) for digest in (B, C))
