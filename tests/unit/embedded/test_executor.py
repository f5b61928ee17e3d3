"""syncer.embedded.executor.EmbeddedSync between two real registries, in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.images import ImageSet
from syncer.config.files import SyncConfig, load_config
from syncer.embedded.executor import EmbeddedSync
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.options import SyncOptions
from syncer.registry.credentials import Credentials
from syncer.registry.pool import ClientPool
from tests.support.embedded import seed, sync_config
from tests.support.registries import LabRegistry
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, images: object, *hosts: str) -> SyncConfig:
    return load_config(sync_config(tmp_path / "config.yaml", images, *hosts), environ={})


def _sync(tmp_path: Path, config: SyncConfig, cache: MemoryBlobCache) -> EmbeddedSync:
    # No docker config of the user: only the config's own entries count.
    empty = tmp_path / "docker-config.json"
    empty.write_text("{}")
    pool = ClientPool(Credentials(config.auth, docker_config=empty), pool_size=2)
    return EmbeddedSync(config, SyncOptions(proc=2, retries=0), cache=cache, pool=pool)


def test_a_shared_layer_is_copied_once_and_mounted_for_the_other_image(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, tmp_path: Path
) -> None:
    seeded = seed(source, image_set, "lab/app0:v1", "lab/app1:v1")
    images = {
        f"{source.host}/lab/app0:v1": f"{dest.host}/mirror/app0",
        f"{source.host}/lab/app1:v1": f"{dest.host}/mirror/app1",
    }
    config = _config(tmp_path, images, source.host, dest.host)
    cache = MemoryBlobCache()
    stats = _sync(tmp_path, config, cache).run()
    assert sorted((r.dest, r.status) for r in stats.results) == [
        (f"{dest.host}/mirror/app0:v1", "synced"),
        (f"{dest.host}/mirror/app1:v1", "synced"),
    ]
    assert stats.mounted >= 1, "the base layer both images share is streamed once"
    assert stats.blobs.failed == 0 and stats.ended is not None
    reader = RegistryReader(dest.url)
    for image in seeded.images:
        repo = image.repo.replace("lab/", "mirror/")
        assert reader.head_manifest(repo, "v1") == (200, image.digest)
        assert all(cache.has(dest.host, repo, blob.digest) for blob in image.blobs)

    again = _sync(tmp_path, config, cache).run()
    assert {r.status for r in again.results} == {"skipped"}
    assert again.bytes.done == 0 and again.blobs.done == 0


def test_a_broken_entry_and_an_unlistable_rule_fail_alone(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/app0:v1")
    images = {
        f"{source.host}/lab/app0:v1": f"{dest.host}/mirror/app0",
        f"{source.host}/lab/Bad:v1": f"{dest.host}/mirror/bad",
        f"{source.host}/lab/nothing": [f"{dest.host}/m1/nothing", f"{dest.host}/m2/nothing"],
    }
    stats = _sync(
        tmp_path, _config(tmp_path, images, source.host, dest.host), MemoryBlobCache()
    ).run()
    outcome = {(r.dest, r.status) for r in stats.results}
    assert outcome == {
        (f"{dest.host}/mirror/app0:v1", "synced"),
        (f"{dest.host}/mirror/bad", "failed"),
        (f"{dest.host}/m1/nothing", "failed"),
        (f"{dest.host}/m2/nothing", "failed"),
    }
    assert stats.images.total == 4 and stats.images.failed == 3


def test_expand_lists_every_image_and_copies_nothing(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/app0:v1", "lab/app0:v2")
    images = {f"{source.host}/lab/app0": f"{dest.host}/mirror/app0"}
    jobs = _sync(
        tmp_path, _config(tmp_path, images, source.host, dest.host), MemoryBlobCache()
    ).expand()
    assert sorted(str(j.dest) for j in jobs) == [
        f"{dest.host}/mirror/app0:v1",
        f"{dest.host}/mirror/app0:v2",
    ]
    assert RegistryReader(dest.url).tags("mirror/app0") == []
