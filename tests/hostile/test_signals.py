"""SIGTERM and Ctrl-C stop ``syncer sync`` within seconds, whatever it is waiting on.

Every case runs with the default deadlines, so what stops the process is the
signal and not a deadline, and checks: the exit code (128 + the signal), the
time from the signal to the exit, one "interrupted" line and no traceback on
stderr, a bounded peak RSS, and nothing tagged at the destination.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostile import HostileRegistry, Image, Pool, Reply, make_image
from tests.support.hostile_kit import RSS_MIB, has_blob, stalling_destination, tags_at, write_images
from tests.support.runner import Outcome, run_syncer

#: Longest time from the signal to the exit.
STOP_WITHIN = 5.0


def interrupted(
    args: list[str], env: dict[str, str], after: float, signum: int = signal.SIGTERM
) -> Outcome:
    """Run ``syncer sync ARGS``, send ``signum`` after ``after`` s; check it stopped cleanly."""
    out = run_syncer(
        ["sync", *args, "--cache", "none"],
        env=env,
        deadline=after + 30,
        signal_after=after,
        signum=signum,
    )
    assert not out.killed, out.text
    assert out.code == 128 + signum, out.text
    assert out.elapsed - after < STOP_WITHIN, out.text
    assert f"interrupted by {signal.Signals(signum).name}" in out.err
    assert "Traceback" not in out.err
    assert out.peak_rss_mib < RSS_MIB
    return out


def source(hostile: Pool, image: Image) -> HostileRegistry:
    """A scripted source holding ``image`` as ``lab/app:v1``."""
    src = hostile(lifetime=60)
    src.serve_image("lab/app", "v1", image)
    return src


@pytest.mark.integration
@pytest.mark.parametrize(
    ("label", "hanging", "rule", "in_flight", "what"),
    [
        # Listing tags from a hanging server.
        ("list", r"/tags/list$", "lab/app", ("GET", "/tags/list"), "the listing was in flight"),
        # Resolving with a hanging HEAD (the GET route answers HEAD too).
        (
            "head",
            r"/manifests/v1$",
            "lab/app:v1",
            ("HEAD", "/manifests/v1"),
            "the HEAD was in flight",
        ),
    ],
    ids=["listing-tags", "resolving-with-a-hanging-head"],
)
def test_sigterm_while_a_request_hangs(
    label: str,
    hanging: str,
    rule: str,
    in_flight: tuple[str, str],
    what: str,
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    src = source(hostile, make_image(label))
    src.route("GET", hanging, lambda r: r.hang())
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/{rule}": f"{dst.host}/mirror/app"})

    interrupted(args, env, after=3.0)

    assert src.requests(*in_flight), what
    assert tags_at(dst.url, "mirror/app") == []


@pytest.mark.integration
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_streaming_a_dripping_blob(
    signum: int,
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    image = make_image("drip")
    src = source(hostile, image)
    size = str(len(image.blobs[image.layer]))
    src.route(
        "GET", rf"/blobs/{image.layer}$", lambda r: r.drip(b"x", 0.5, {"Content-Length": size})
    )
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})

    interrupted(args, env, after=4.0, signum=signum)

    assert src.requests("GET", f"/blobs/{image.layer}"), "the blob was streaming"
    assert tags_at(dst.url, "mirror/app") == []
    assert not has_blob(dst.url, "mirror/app", image.layer)


def test_sigterm_while_a_destination_does_not_read_an_upload(
    hostile: Pool, env: dict[str, str], tmp_path: Path
) -> None:
    src = source(hostile, make_image("big", layer=bytes(range(256)) * (1 << 16)))  # 16 MiB
    dst = stalling_destination(hostile)
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})

    interrupted(args, env, after=4.0)

    assert dst.requests("PUT", "/blobs/uploads/"), "the upload was in flight"
    assert not dst.requests("PUT", "/manifests/"), "nothing was tagged"


@pytest.mark.integration
def test_sigterm_with_many_images_queued_behind_dripping_blobs(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    images = {f"v{i}": make_image(f"queued {i}") for i in range(30)}
    layers = {image.layer: len(image.blobs[image.layer]) for image in images.values()}
    src = hostile(lifetime=60)
    src.serve_images("lab/app", images)
    honest_blob = src.find("GET", f"/v2/lab/app/blobs/{next(iter(layers))}")[0]
    assert honest_blob is not None

    def blob(r: Reply) -> None:
        size = layers.get(r.path.rsplit("/", 1)[1])
        if size is None:
            honest_blob(r)  # the config blob, which every image shares
        else:
            r.drip(b"x", 0.5, {"Content-Length": str(size)})

    src.route("GET", r"/blobs/sha256:[0-9a-f]{64}$", blob)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app": f"{dst.host}/mirror/app"})

    # Resolving 30 images takes about a second; by 6 s every one of them waits
    # behind the two dripping copies.
    out = interrupted([*args, "-p", "2"], env, after=6.0)

    layer_gets = [s for s in src.requests("GET", "/blobs/") if s.path.rsplit("/", 1)[1] in layers]
    assert len(src.requests("GET", "/manifests/")) == len(images), out.err
    assert 1 <= len(layer_gets) <= 4, "queued blob copies were cancelled, not started"
    assert tags_at(dst.url, "mirror/app") == []


@pytest.mark.integration
def test_sigterm_while_a_credential_helper_hangs_exits_after_the_grace_period(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # A helper subprocess cannot be cut off like a socket: the grace period ends it.
    src = source(hostile, make_image("helper"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-stuck"
    helper.write_text("#!/bin/sh\nexec sleep 15\n")  # outlives the test by little
    helper.chmod(0o755)
    docker = Path(env["DOCKER_CONFIG"]) / "config.json"
    docker.write_text(json.dumps({"credHelpers": {src.host: "stuck"}}))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})

    out = run_syncer(["sync", *args, "--cache", "none"], env=env, deadline=30, signal_after=3)

    assert not out.killed and out.code == 128 + signal.SIGTERM, out.text
    assert out.elapsed - 3 < STOP_WITHIN
    # Either the pools let go at once, or the grace period ended a thread stuck in the helper.
    stopped = "interrupted by SIGTERM" in out.err or "did not stop in time" in out.err
    assert stopped and "Traceback" not in out.err, out.err
    assert not src.requests("HEAD", "/manifests/"), "the helper was still running"
    assert tags_at(dst.url, "mirror/app") == []
