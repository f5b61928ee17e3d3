"""The destination registry restarts in the middle of a chunked upload.

``RegistryServer.stop()`` and ``start()`` keep the port, the storage and the
HTTP secret, so upload sessions survive the restart. The embedded engine runs
in this process with 1 MiB chunks; the source is bandwidth-capped so the
upload is still going when the registry goes away, and the destination sits
behind a store-and-forward :class:`ChaosProxy`, so the registry never holds
half a chunk.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.images import build_image_set
from syncer.config.files import load_config
from syncer.embedded.executor import EmbeddedSync
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.options import SyncOptions
from syncer.engine.progress import Stats
from tests.support.chaos import ChaosProxy
from tests.support.faultproxy import Recorded
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, seed, write_json
from tests.support.tcprelay import ThrottledRelay
from tests.support.verify import RegistryReader, verify_image
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

CHUNK = 1 << 20
SESSION = r"^/v2/mirror/large/blobs/uploads/[^/]+$"
#: Longer than the first backoff after a failed chunk (at most 0.5 s).
DOWNTIME = 1.5


@pytest.fixture(autouse=True)
def _no_docker_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "docker-config"
    empty.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(empty))


def _restart_mid_upload(
    source: LabRegistry, dest: LabRegistry, make_proxy: Callable[..., ChaosProxy], tmp: Path
) -> tuple[Stats, ChaosProxy, int, str]:
    """Sync ``lab/large:v1``; restart the destination after two chunks landed."""
    image_set = build_image_set(57, repos=0, large_layer_size=6 << 20)
    image = image_set.get("lab/large", "v1")
    seed(source, [image])
    dst = make_proxy(dest.host, buffer_bodies=True)
    result: list[Stats] = []
    with ThrottledRelay(source.host, 2 << 20) as relay:
        auth = write_json(tmp / "auth.json", insecure(relay.host, dst.host))
        images = write_json(
            tmp / "images.json", {f"{relay.host}/lab/large:v1": f"{dst.host}/mirror/large"}
        )
        options = SyncOptions(proc=2, retries=2, chunked_threshold=CHUNK, upload_chunk=CHUNK)
        runner = EmbeddedSync(
            load_config(auth=auth, images=images), options, cache=MemoryBlobCache()
        )
        thread = threading.Thread(target=lambda: result.append(runner.run()))
        thread.start()
        try:
            wait_for(
                "two chunks to land",
                lambda: [p.status for p in dst.recorded("PATCH", SESSION)][:2] == [202, 202],
                timeout=60,
            )
            mark = len(dst.recorded())
            dest.server.stop()
            time.sleep(DOWNTIME)
            dest.server.start()
        finally:
            thread.join(timeout=120)
            runner.pool.close()
    assert result, "the sync did not return"
    return result[0], dst, mark, image.digest


def _after(records: list[Recorded], mark: int) -> list[Recorded]:
    return [r for r in records[mark:] if re.search(SESSION, r.path)]


def test_upload_retried_after_a_registry_restart_succeeds(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    tmp_path: Path,
) -> None:
    stats, dst, mark, digest = _restart_mid_upload(source, dest, make_proxy, tmp_path)

    assert [(r.status, r.reason) for r in stats.results] == [("synced", "")]
    with RegistryReader(dest.url) as reader:
        verify_image(reader, "mirror/large", "v1", digest)
    # The registry really was gone for a while: requests failed, then one completed it.
    assert any(r.status == 0 for r in dst.recorded()[mark:])
    assert [r.status for r in _after(dst.recorded(), mark) if r.method == "PUT"][-1] == 201


def test_chunked_upload_resumes_across_a_registry_restart(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    tmp_path: Path,
) -> None:
    stats, dst, mark, _ = _restart_mid_upload(source, dest, make_proxy, tmp_path)

    assert [r.status for r in stats.results] == ["synced"]
    before = [r for r in dst.recorded()[:mark] if r.method == "PATCH" and r.status == 202]
    held = max(r.content_range()[1] for r in before) + 1  # type: ignore[index]
    patches = [r for r in _after(dst.recorded(), mark) if r.method == "PATCH" and r.status == 202]
    # The chunks that landed before the restart are not sent again.
    assert patches and patches[0].content_range()[0] >= held, [  # type: ignore[index]
        (p.content_range(), p.path[-12:]) for p in patches
    ]
