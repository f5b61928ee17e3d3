"""Resuming interrupted transfers, through fault proxies in front of real registries."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.images import ImageSet, build_image_set
from syncer.config.files import load_config
from syncer.embedded.executor import EmbeddedSync
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.options import SyncOptions
from syncer.engine.progress import Stats
from tests.support.embedded import RunSync, seed, sync_config, write_config
from tests.support.faultproxy import FaultProxy, Recorded
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure
from tests.support.verify import RegistryReader, verify_image

pytestmark = pytest.mark.integration

CHUNK = 512 << 10
UPLOAD_SESSION = r"^/v2/mirror/large/blobs/uploads/[^/]+$"


@pytest.fixture(scope="module")
def large_set() -> ImageSet:
    """``lab/large:v1``: a small base layer and a ~3 MiB one."""
    return build_image_set(7, repos=0, large_layer_size=3 << 20)


@pytest.fixture
def proxies(source: LabRegistry, dest: LabRegistry) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """A recording proxy in front of the source, and one in front of the destination."""
    with FaultProxy(source.host) as src, FaultProxy(dest.host) as dst:
        yield src, dst


def _chunked_sync(src: FaultProxy, dst: FaultProxy, tmp_path: Path) -> Stats:
    images = write_config(
        tmp_path / "images.yaml", {f"{src.host}/lab/large:v1": f"{dst.host}/mirror/large"}
    )
    auth = write_config(tmp_path / "auth.yaml", insecure(src.host, dst.host))
    options = SyncOptions(proc=2, chunked_threshold=1 << 20, upload_chunk=CHUNK)
    runner = EmbeddedSync(load_config(auth=auth, images=images), options, cache=MemoryBlobCache())
    try:
        return runner.run()
    finally:
        runner.pool.close()


def _after(records: list[Recorded], first: Recorded) -> list[Recorded]:
    return records[records.index(first) + 1 :]


def test_chunked_upload_resumes_where_the_registry_says(
    source: LabRegistry,
    dest: LabRegistry,
    large_set: ImageSet,
    proxies: tuple[FaultProxy, FaultProxy],
    reader: Callable[[LabRegistry], RegistryReader],
    tmp_path: Path,
) -> None:
    seed(source, large_set)
    image = large_set.get("lab/large", "v1")
    big = max(image.blobs, key=lambda b: b.size)
    assert big.size > 5 * CHUNK
    src, dst = proxies
    rule = dst.fault("PATCH", UPLOAD_SESSION, nth=3, reset=True)

    stats = _chunked_sync(src, dst, tmp_path)

    assert [r.status for r in stats.results] == ["synced"], stats.results
    assert rule.fired == 1
    records = dst.recorded()
    broken = [r for r in records if r.method == "PATCH"][2]
    assert broken.content_range() == (2 * CHUNK, 3 * CHUNK - 1)
    # The session is asked what it holds, and the next chunk starts exactly there.
    (status,) = [r for r in _after(records, broken) if r.method == "GET"]
    assert status.status == 204 and re.search(UPLOAD_SESSION, status.path)
    assert status.response_headers["Range"] == f"0-{2 * CHUNK - 1}"
    resumed = [r.content_range() for r in _after(records, status) if r.method == "PATCH"]
    assert resumed[0] == (2 * CHUNK, 3 * CHUNK - 1)
    _assert_contiguous(resumed, big.size)
    # ... in the same upload session.
    assert {r.path for r in _after(records, broken) if r.method in ("PATCH", "GET")} == {
        broken.path
    }
    # The source is re-read from the offset the registry holds, with a Range request.
    big_gets = src.recorded("GET", f"/blobs/{big.digest}$")
    assert [g.headers.get("Range") for g in big_gets] == [None, f"bytes={2 * CHUNK}-"]
    assert big_gets[1].status == 206
    verify_image(reader(dest), "mirror/large", "v1", image.digest)


def test_chunked_upload_starts_over_when_the_session_is_gone(
    source: LabRegistry,
    dest: LabRegistry,
    large_set: ImageSet,
    proxies: tuple[FaultProxy, FaultProxy],
    reader: Callable[[LabRegistry], RegistryReader],
    tmp_path: Path,
) -> None:
    """A PATCH cut mid-body leaves distribution 2.8 holding more bytes than its
    ``_state`` token says; it answers the status GET with 404 BLOB_UPLOAD_INVALID
    and cancels the session ("upload resumed at wrong offest"), so the copy
    opens a new session and sends everything again."""
    seed(source, large_set)
    image = large_set.get("lab/large", "v1")
    big = max(image.blobs, key=lambda b: b.size)
    src, dst = proxies
    rule = dst.fault("PATCH", UPLOAD_SESSION, nth=3, reset_request_after=200_000)

    stats = _chunked_sync(src, dst, tmp_path)

    assert [r.status for r in stats.results] == ["synced"], stats.results
    assert rule.fired == 1
    records = dst.recorded()
    broken = [r for r in records if r.method == "PATCH"][2]
    (status,) = [r for r in _after(records, broken) if r.method == "GET"]
    assert status.status == 404
    resumed_patches = [r for r in _after(records, status) if r.method == "PATCH"]
    resumed = [r.content_range() for r in resumed_patches]
    assert resumed[0] == (0, CHUNK - 1)
    # ... in a new session, opened after the old one was reported gone.
    new_session = {r.path for r in resumed_patches}
    assert len(new_session) == 1 and new_session != {broken.path}
    _assert_contiguous(resumed, big.size)
    big_gets = src.recorded("GET", f"/blobs/{big.digest}$")
    assert [g.headers.get("Range") for g in big_gets] == [None, None]
    verify_image(reader(dest), "mirror/large", "v1", image.digest)


def _assert_contiguous(ranges: list[tuple[int, int] | None], size: int) -> None:
    """Chunks follow one another without gaps up to the blob's last byte."""
    spans = [r for r in ranges if r is not None]
    assert len(spans) == len(ranges)
    assert all(prev[1] + 1 == nxt[0] for prev, nxt in zip(spans, spans[1:], strict=False))
    assert spans[-1][1] == size - 1


def test_transient_faults_are_retried_until_the_sync_succeeds(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    proxies: tuple[FaultProxy, FaultProxy],
    run_sync: RunSync,
    reader: Callable[[LabRegistry], RegistryReader],
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/large:v1", "lab/app0:v1")
    image = image_set.get("lab/large", "v1")
    big = max(image.blobs, key=lambda b: b.size)
    src, dst = proxies
    truncated = src.fault("GET", f"/blobs/{big.digest}$", truncate_after=100_000)
    refused = dst.fault(
        "POST", r"/blobs/uploads/$", nth=2, status=429, headers={"Retry-After": "1"}
    )
    failed_put = dst.fault("PUT", r"^/v2/mirror/large/manifests/v1$", status=503)
    dropped_head = dst.fault("HEAD", r"/blobs/sha256:", reset=True)
    config = sync_config(
        tmp_path / "config.yaml",
        {
            f"{src.host}/lab/large:v1": f"{dst.host}/mirror/large",
            f"{src.host}/lab/app0:v1": f"{dst.host}/mirror/app0",
        },
        src.host,
        dst.host,
    )

    run = run_sync(config, "-p", "1", "--output", "json")

    assert run.code == 0, run.err
    assert run.report["images"]["done"] == 2
    for rule in (truncated, refused, failed_put, dropped_head):
        assert rule.fired == 1, rule
    # The 429's Retry-After is honoured before the upload is started again.
    posts = dst.recorded("POST", r"/blobs/uploads/$")
    (limited,) = [i for i, p in enumerate(posts) if p.status == 429]
    assert posts[limited + 1].at - posts[limited].at >= 0.9
    manifest_puts = dst.recorded("PUT", r"^/v2/mirror/large/manifests/v1$")
    assert [p.status for p in manifest_puts] == [503, 201]
    # The broken source read is resumed, never committed short.
    big_gets = src.recorded("GET", f"/blobs/{big.digest}$")
    assert len(big_gets) == 2
    rng = big_gets[1].headers.get("Range")
    assert rng is None or rng.startswith("bytes=")
    dst_reader = reader(dest)
    verify_image(dst_reader, "mirror/large", "v1", image.digest)
    verify_image(dst_reader, "mirror/app0", "v1", image_set.get("lab/app0", "v1").digest)
