"""Server input parsed without a way to crash us: JSON nested too deep, numbers that are not.

``json.loads`` of deep nesting raised RecursionError and ``int('²')`` a
ValueError; neither was a syncer error, so each ended the run with a
traceback. Each test runs the real CLI against a scripted source and checks
the image's outcome and what the source saw.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostile import DOCKER_MANIFEST, Pool, Reply, make_image, sha256
from tests.support.hostile_kit import RSS_MIB, dest_manifest, write_images
from tests.support.runner import run_syncer

pytestmark = pytest.mark.integration

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_a_manifest_nested_past_the_recursion_limit_fails_its_image_in_one_line(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": sha256(DEEP)}
    src.route("GET", r"^/v2/lab/app/manifests/", lambda r: r.send(200, DEEP, headers))
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=60)
    assert not out.killed and out.code == 1, out.text
    assert "Traceback" not in out.err and "RecursionError" not in out.text
    assert f"{src.host}/lab/app:v1: manifest is not JSON (JSON nested too deeply)" in out.out
    assert len(src.requests("GET", "/manifests/")) == 1, "permanent: not retried"
    assert out.peak_rss_mib < RSS_MIB


def test_header_numbers_that_are_no_numbers_are_ignored_and_the_image_synced(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("odd numbers")
    src.serve_image("lab/app", "v1", image)
    honest = src.find("GET", "/v2/lab/app/manifests/v1")[0]
    assert honest is not None
    refused: list[str] = []

    def odd(r: Reply) -> None:
        if r.method == "HEAD":
            # '²' passes isdigit() and fails int(); 5,000 digits fail int() too.
            headers = {
                "Content-Type": DOCKER_MANIFEST,
                "Docker-Content-Digest": image.digest,
                "Content-Length": "\u00b2",
                "ratelimit-remaining": "9" * 5000,
            }
            r.start(200, headers)
        elif not refused:
            refused.append(r.method)
            r.send_json(503, {"errors": [{"code": "UNAVAILABLE"}]}, {"Retry-After": "\u00b3"})
        else:
            honest(r)

    src.route("GET", r"^/v2/lab/app/manifests/", odd)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=60)
    assert out.code == 0, out.text
    assert "Traceback" not in out.err
    assert refused == ["GET"], "the 503 was retried after an ordinary backoff"
    assert dest_manifest(dst.url, "mirror/app", "v1") == image.manifest
