"""Deadlines: a dripping blob, a silent manifest GET and a destination that stops reading.

Each runs a real ``syncer sync`` with the deadlines shrunk through their
environment variables, and checks that the image fails with a reason naming
the deadline, in a time bounded by deadline x attempts, with nothing tagged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostile import DOCKER_MANIFEST, Pool, Reply, make_image
from tests.support.hostile_kit import RSS_MIB, has_blob, stalling_destination, tags_at, write_images
from tests.support.runner import run_syncer

#: Attempts one request gets inside an operation (defaults.REQUEST_ATTEMPTS).
ATTEMPTS = 5
#: The longest total backoff between those attempts: 0.5 + 1 + 2 + 4 s.
BACKOFFS = 7.5
#: Starting Python, listing, resolving, and a loaded machine.
SLACK = 10.0


@pytest.mark.integration
def test_a_blob_dripping_a_byte_every_two_seconds_fails_on_the_rate_deadline(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile(lifetime=90)
    image = make_image("drip")
    layer = image.layer
    src.serve_image("lab/app", "v1", image)
    src.route(
        "GET",
        rf"/blobs/{layer}$",
        lambda r: r.drip(b"x", 2.0, {"Content-Length": str(len(image.blobs[layer]))}),
    )
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    env.update(SYNCER_MIN_RATE="1024", SYNCER_RATE_WINDOW="1")

    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=80)

    assert not out.killed and out.code == 1, out.text
    assert re.search(rf"GET \S+/blobs/{layer}: slower than 1024 bytes/s over 1 s", out.text)
    # One GET per attempt: a source too slow for a window is not reopened at once.
    assert len(src.requests("GET", f"/blobs/{layer}")) == ATTEMPTS
    assert out.elapsed < ATTEMPTS * 1.0 + BACKOFFS + SLACK
    assert tags_at(dst.url, "mirror/app") == []
    assert not has_blob(dst.url, "mirror/app", layer)
    assert "Traceback" not in out.err
    assert out.peak_rss_mib < RSS_MIB


@pytest.mark.integration
def test_a_slow_but_steady_blob_at_four_times_the_minimum_rate_is_not_cut_off(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile(lifetime=90)
    image = make_image("shaped", layer=bytes(range(256)) * (1 << 12))  # 1 MiB
    data = image.blobs[image.layer]
    src.serve_image("lab/app", "v1", image)

    def shaped(r: Reply) -> None:  # 128 KiB/s, in 16 KiB writes
        r.start(200, {"Content-Length": str(len(data))})
        for at in range(0, len(data), 16 << 10):
            if not (r.write(data[at : at + (16 << 10)]) and r.sleep(0.125)):
                return

    src.route("GET", rf"/blobs/{image.layer}$", shaped)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    env.update(SYNCER_MIN_RATE=str(32 << 10), SYNCER_RATE_WINDOW="1")

    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=80)

    assert not out.killed and out.code == 0, out.text
    assert out.elapsed >= 7.5, "the blob really took its 8 s"
    assert len(src.requests("GET", f"/blobs/{image.layer}")) == 1, "never cut off and retried"
    assert tags_at(dst.url, "mirror/app") == ["v1"]
    assert has_blob(dst.url, "mirror/app", image.layer)
    assert out.peak_rss_mib < RSS_MIB


@pytest.mark.integration
def test_a_manifest_get_that_never_answers_costs_the_deadline_per_attempt(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile(lifetime=90)
    image = make_image("silent")
    src.serve_image("lab/app", "v1", image)

    def silent_get(r: Reply) -> None:
        if r.method == "HEAD":  # resolving asks with HEAD first, and that answers
            r.send(200, headers={"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": ""})
        else:
            r.hang()

    src.route("GET", r"^/v2/lab/app/manifests/", silent_get)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    env.update(SYNCER_REQUEST_DEADLINE="1")

    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=80)

    assert not out.killed and out.code == 1, out.text
    assert "GET" in out.err and "no answer within 1 s (SYNCER_REQUEST_DEADLINE)" in out.err
    assert len(src.requests("GET", "/manifests/")) == ATTEMPTS
    assert ATTEMPTS * 1.0 <= out.elapsed < ATTEMPTS * 1.0 + BACKOFFS + SLACK
    assert tags_at(dst.url, "mirror/app") == []
    assert "Traceback" not in out.err
    assert out.peak_rss_mib < RSS_MIB


def test_a_destination_that_stops_reading_an_upload_fails_it_on_the_rate_deadline(
    hostile: Pool, env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile(lifetime=90)
    # Larger than what loopback socket buffers absorb, so the sender blocks.
    image = make_image("big", layer=bytes(range(256)) * (1 << 16))  # 16 MiB
    src.serve_image("lab/app", "v1", image)
    dst = stalling_destination(hostile)
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    env.update(SYNCER_MIN_RATE="65536", SYNCER_RATE_WINDOW="1")

    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=80)

    assert not out.killed and out.code == 1, out.text
    assert re.search(r"PUT \S+/blobs/uploads/\S*: slower than 65536 bytes/s", out.text)
    assert len(dst.requests("PUT", "/blobs/uploads/")) >= ATTEMPTS  # the config blob, too
    assert not dst.requests("PUT", "/manifests/"), "nothing was tagged"
    assert out.elapsed < ATTEMPTS * 3.0 + BACKOFFS + SLACK
    assert "Traceback" not in out.err
    assert out.peak_rss_mib < RSS_MIB + 64  # the 16 MiB layer is never held whole
