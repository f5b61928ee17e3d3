"""Destinations that lie: they answer a push as if they stored it, and hold something else.

Each test runs the real CLI from an honest scripted source to a scripted
destination, and judges the run by its exit code and message, and by what
the destination was asked: the image must fail naming both digests, never
end "synced".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hostile import HostileRegistry, Pool, make_image, sha256
from tests.support.hostile_kit import black_hole, digest_liar, write_images
from tests.support.runner import Outcome, run_syncer

pytestmark = pytest.mark.integration


def _sync(src: HostileRegistry, dst: HostileRegistry, tmp: Path, env: dict[str, str]) -> Outcome:
    args = write_images(tmp, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=60)
    assert not out.killed and out.elapsed < 30, out.text
    assert "Traceback" not in out.err
    return out


def test_a_manifest_put_answered_with_another_digest_fails_the_image_naming_both(
    hostile: Pool, env: dict[str, str], tmp_path: Path
) -> None:
    src, dst = hostile(), hostile()
    image = make_image("pushed")
    src.serve_image("lab/app", "v1", image)
    other = digest_liar(dst, "mirror/app")
    out = _sync(src, dst, tmp_path, env)
    assert out.code == 1, out.text
    assert "0 synced, 0 skipped, 1 failed" in out.out
    assert (
        f"digest mismatch for PUT manifest {dst.host}/mirror/app:v1 (Docker-Content-Digest): "
        f"expected {image.digest}, got {sha256(other)}"
    ) in out.out
    # A lie is permanent: one PUT, not retried.
    assert len(dst.requests("PUT", "/manifests/")) == 1


def test_a_tag_that_serves_other_bytes_after_an_honest_looking_put_fails_naming_both(
    hostile: Pool, env: dict[str, str], tmp_path: Path
) -> None:
    src, dst = hostile(), hostile()
    image = make_image("pushed")
    src.serve_image("lab/app", "v1", image)
    other = digest_liar(dst, "mirror/app", admit=True)
    out = _sync(src, dst, tmp_path, env)
    assert out.code == 1, out.text
    assert (
        f"digest mismatch for {dst.host}/mirror/app:v1 after the push: "
        f"expected {image.digest}, got {sha256(other)}"
    ) in out.out
    # Resolving HEADs the tag once; confirming the push, once more, after the PUT.
    heads = [s.at for s in dst.requests("HEAD", "/manifests/v1")]
    (put,) = [s.at for s in dst.requests("PUT", "/manifests/v1")]
    assert len(heads) == 2 and heads[0] < put < heads[1]


def test_a_destination_that_accepts_everything_and_stores_nothing_is_not_believed(
    hostile: Pool, env: dict[str, str], tmp_path: Path
) -> None:
    src, dst = hostile(), hostile()
    image = make_image("into the void")
    src.serve_image("lab/app", "v1", image)
    black_hole(dst, "mirror/app")
    out = _sync(src, dst, tmp_path, env)
    assert out.code == 1, out.text
    assert "0 synced, 0 skipped, 1 failed" in out.out
    assert (
        f"digest mismatch for {dst.host}/mirror/app:v1 after the push: "
        f"expected {image.digest}, got no manifest at all (HTTP 404)"
    ) in out.out
    # It took every blob and the manifest, each answered as stored; one HEAD found nothing.
    assert len(dst.requests("PUT", "/blobs/uploads/")) == len(image.blobs)
    assert len(dst.requests("PUT", "/manifests/v1")) == 1
    assert len(dst.requests("HEAD", "/manifests/v1")) == 2
