"""Hostile sources that try to make one reply cost unbounded memory or time.

Each test runs the real CLI against a scripted source and a real destination
registry, and asserts the exit code, what the destination holds, how long the
run took and the process's own peak RSS.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostile import DOCKER_MANIFEST, HostileRegistry, Image, Pool, Reply, make_image
from tests.support.hostile_kit import dest_manifest, dest_tags, write_images
from tests.support.runner import Outcome, run_syncer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

MiB = 1 << 20
#: A syncer that syncs one small image peaks around 40-60 MiB; reading any of
#: these replies whole would need well over 200 MiB.
RSS_BOUND = 150
#: What a refused reply may still have pushed into loopback socket buffers.
SENT_BOUND = 48 * MiB


def _head(r: Reply, image: Image) -> None:
    """An honest manifest HEAD, so syncer goes on to GET the body."""
    r.send(200, b"", {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": image.digest})


def _huge(r: Reply, status: int, total: int, headers: dict[str, str], sent: list[int]) -> None:
    """Answer ``status`` with a declared ``total``-byte body; record what got written."""
    r.start(status, {"Content-Length": str(total), **headers})
    piece, n = b"x" * MiB, 0
    while n < total and not r.stopping and r.write(piece):
        n += len(piece)
    sent.append(n)


def _settled(sent: list[int], count: int) -> list[int]:
    """``sent`` once ``count`` replies have finished writing (the client has gone)."""
    wait_for(f"{count} replies written", lambda: len(sent) >= count, 5, interval=0.05)
    return sent


def _sync(src: HostileRegistry, dst: Any, tmp: Path, env: dict[str, str], *extra: str) -> Outcome:
    args = write_images(tmp, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    return run_syncer(
        ["sync", *args, "--cache", "none", "--retries", "0", *extra], env=env, deadline=60
    )


def test_an_endless_manifest_is_refused_at_the_cap(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("endless")
    src.serve_image("lab/app", "v1", image)

    def endless(r: Reply) -> None:
        if r.method == "HEAD":
            _head(r, image)
            return
        r.endless(b'{"schemaVersion": 2, ' + b" " * 65000, {"Content-Type": DOCKER_MANIFEST})

    src.route("GET", r"^/v2/lab/app/manifests/", endless)
    dst = registry_factory()
    out = _sync(src, dst, tmp_path, env)
    assert not out.killed and out.code == 1, out.text
    assert out.elapsed < 30
    assert out.peak_rss_mib < RSS_BOUND
    assert "4 MiB cap" in out.text and f"{src.url}/v2/lab/app/manifests/" in out.text
    # A body past its cap is permanent: one GET, no retries.
    assert len(src.requests("GET", "/manifests/")) == 1
    assert dest_manifest(dst.url, "mirror/app", "v1") is None
    assert dest_tags(dst.url, "mirror/app") == []


def test_a_200_mib_manifest_is_refused_without_being_read(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("huge")
    src.serve_image("lab/app", "v1", image)
    sent: list[int] = []

    def huge(r: Reply) -> None:
        if r.method == "HEAD":
            _head(r, image)
            return
        _huge(r, 200, 200 * MiB, {"Content-Type": DOCKER_MANIFEST}, sent)

    src.route("GET", r"^/v2/lab/app/manifests/", huge)
    dst = registry_factory()
    out = _sync(src, dst, tmp_path, env)
    assert not out.killed and out.code == 1, out.text
    assert out.elapsed < 30
    assert out.peak_rss_mib < RSS_BOUND
    assert "4 MiB cap" in out.text
    assert _settled(sent, 1) == sent and len(sent) == 1 and sent[0] < SENT_BOUND, sent
    assert dest_manifest(dst.url, "mirror/app", "v1") is None


def test_a_larger_manifest_cap_can_be_configured(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("tiny cap")
    src.serve_image("lab/app", "v1", image)
    dst = registry_factory()
    # The same honest manifest fails under a cap below its size.
    small = {**env, "SYNCER_MAX_MANIFEST": str(len(image.manifest) - 1)}
    out = _sync(src, dst, tmp_path, small)
    assert out.code == 1 and f"{len(image.manifest) - 1} bytes cap" in out.text, out.text
    assert dest_manifest(dst.url, "mirror/app", "v1") is None
    fits = {**env, "SYNCER_MAX_MANIFEST": str(len(image.manifest))}
    out = _sync(src, dst, tmp_path, fits)
    assert out.code == 0, out.text
    assert dest_manifest(dst.url, "mirror/app", "v1") == image.manifest


def test_a_200_mib_error_body_is_read_only_up_to_its_cap(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("error body")
    src.serve_image("lab/app", "v1", image)
    sent: list[int] = []

    def failing(r: Reply) -> None:
        if r.method == "HEAD":
            _head(r, image)
            return
        _huge(r, 500, 200 * MiB, {"Content-Type": "text/plain"}, sent)

    src.route("GET", r"^/v2/lab/app/manifests/", failing)
    dst = registry_factory()
    out = _sync(src, dst, tmp_path, env)
    assert not out.killed and out.code == 1, out.text
    assert out.elapsed < 30
    assert out.peak_rss_mib < RSS_BOUND
    assert "HTTP 500" in out.text
    gets = src.requests("GET", "/manifests/")
    # A 500 is transient, so it is retried; each try reads at most 64 KiB and
    # cuts the connection, so the server gets nowhere near 200 MiB out, ever.
    assert 2 <= len(gets) <= 5 and len(_settled(sent, len(gets))) == len(gets), sent
    assert max(sent) < SENT_BOUND and sum(sent) < 200 * MiB, sent
    assert dest_manifest(dst.url, "mirror/app", "v1") is None


def _paged(src: HostileRegistry, link: Callable[[Reply], str | None]) -> None:
    """tags/list answers one tag per page, v1 first, with ``Link`` from ``link``."""

    def page(r: Reply) -> None:
        nxt = link(r)
        headers = {"Link": f'<{nxt}>; rel="next"'} if nxt else {}
        r.send_json(200, {"name": "lab/app", "tags": ["v1"]}, headers)

    src.route("GET", r"^/v2/lab/app/tags/list$", page)


def _sync_repo(src: HostileRegistry, dst: Any, tmp: Path, env: dict[str, str]) -> Outcome:
    args = write_images(tmp, {f"{src.host}/lab/app": f"{dst.host}/mirror/app"})
    return run_syncer(["sync", *args, "--cache", "none", "--retries", "0"], env=env, deadline=60)


def test_a_pagination_loop_is_an_error_for_its_rule(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("looped")
    src.serve_image("lab/app", "v1", image)
    # Page 1 links to page 2, which links back to page 1.
    _paged(
        src,
        lambda r: (
            "/v2/lab/app/tags/list?n=1000"
            if "last=" in r.query
            else "/v2/lab/app/tags/list?n=1000&last=v1"
        ),
    )
    dst = registry_factory()
    out = _sync_repo(src, dst, tmp_path, env)
    assert not out.killed and out.code == 1, out.text
    assert out.elapsed < 30 and out.peak_rss_mib < RSS_BOUND
    assert "loops back to one already read" in out.text
    assert len(src.requests("GET", "/tags/list")) == 2
    # The tag listed before the loop showed is a real tag, and was synced.
    assert dest_manifest(dst.url, "mirror/app", "v1") == image.manifest


def test_endless_distinct_pages_stop_at_the_page_cap(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    src.serve_image("lab/app", "v1", make_image("paged"))
    count = iter(range(1 << 30))
    _paged(src, lambda r: f"/v2/lab/app/tags/list?n=1000&last={next(count)}")
    dst = registry_factory()
    out = _sync_repo(src, dst, tmp_path, {**env, "SYNCER_MAX_TAG_PAGES": "40"})
    assert not out.killed and out.code == 1, out.text
    assert out.elapsed < 30 and out.peak_rss_mib < RSS_BOUND
    assert "more than 40 pages" in out.text
    assert len(src.requests("GET", "/tags/list")) == 40


def test_a_next_page_on_another_host_is_never_fetched(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src, elsewhere = hostile(), hostile()
    src.serve_image("lab/app", "v1", make_image("leaving"))
    _paged(src, lambda r: f"{elsewhere.url}/v2/lab/app/tags/list?n=1000&last=v1")
    dst = registry_factory()
    out = _sync_repo(src, dst, tmp_path, env)
    assert out.code == 1 and "leaves this repository's tag list" in out.text, out.text
    assert elsewhere.requests() == []
    assert len(src.requests("GET", "/tags/list")) == 1


def test_200k_tags_on_one_page_are_fed_to_the_pools_lazily(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("many")
    src.serve_image("lab/app", "t0", image)
    tags = [f"t{i}" for i in range(200_000)]
    src.route("GET", r"^/v2/lab/app/tags/list$", lambda r: r.send_json(200, {"tags": tags}))

    def manifest(r: Reply) -> None:
        headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": image.digest}
        r.send(200, image.manifest, headers)

    src.route("GET", r"^/v2/lab/app/manifests/[^/]+$", manifest)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app": f"{dst.host}/mirror/app"})
    # Resolving 200k images takes minutes here: stop after 15 s, as a user would.
    out = run_syncer(["sync", *args, "--cache", "none"], env=env, deadline=45, signal_after=15)
    assert not out.killed and out.code == 128 + signal.SIGTERM, out.text
    assert out.elapsed < 30
    # Listing first held every tag, job and future at once: about 500 MiB by 45 s.
    assert out.peak_rss_mib < RSS_BOUND
    assert src.requests("HEAD", "/manifests/t"), "images were resolved while being listed"
    assert dest_tags(dst.url, "mirror/app") == []  # interrupted before any tag was pushed


def test_an_endless_redirect_body_is_not_read_before_following_it(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("redirected")
    src.serve_image("lab/app", "v1", image)
    honest = src.find("GET", "/v2/lab/app/manifests/v1")[0]
    assert honest is not None

    def redirect(r: Reply) -> None:
        if r.method == "HEAD":
            _head(r, image)
        elif r.query == "real=1":
            honest(r)
        else:
            r.endless(b"x" * 65536, {"Location": f"{r.path}?real=1"}, status=307)

    src.route("GET", r"^/v2/lab/app/manifests/", redirect)
    dst = registry_factory()
    out = _sync(src, dst, tmp_path, env)
    assert not out.killed and out.code == 0, out.text
    assert out.elapsed < 30 and out.peak_rss_mib < RSS_BOUND
    assert dest_manifest(dst.url, "mirror/app", "v1") == image.manifest


def test_a_bad_cap_setting_stops_the_run_before_any_request(
    hostile: Pool, env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": "127.0.0.1:9/mirror/app"})
    out = run_syncer(["sync", *args], env={**env, "SYNCER_MAX_MANIFEST": "4MiB"}, deadline=30)
    assert out.code == 2, out.text
    assert "$SYNCER_MAX_MANIFEST: '4MiB' is not a positive whole number" in out.err
    assert src.requests() == []
