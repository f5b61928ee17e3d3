"""Digest pins that pin: a hostile source cannot make syncer copy other bytes than those named.

Each test runs the real CLI against a scripted source and a real
``docker-registry`` destination, then reads the destination with plain
``requests`` to see what was committed: the exact manifest, or nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.hostile import (
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    HostileRegistry,
    Image,
    Pool,
    Reply,
    blob_answers,
    make_image,
    sha256,
)
from tests.support.runner import Outcome, run_syncer
from tests.support.schema1 import MEDIA_TYPE as SCHEMA1
from tests.support.schema1 import signed_schema1

pytestmark = pytest.mark.integration

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST, SCHEMA1])
#: Generous bounds for a tiny image on loopback: a hang or a blow-up fails the test.
DEADLINE, MAX_SECONDS, MAX_RSS_MIB = 60.0, 30.0, 250.0


def sync(tmp: Path, env: dict[str, str], rules: dict[str, str]) -> Outcome:
    """Run ``syncer sync`` on ``rules``, checking it stayed within time and memory."""
    images = tmp / "images.yaml"
    images.write_text(yaml.safe_dump(rules))
    outcome = run_syncer(
        ["sync", "--images", str(images), "--cache", "none", "--retries", "0"],
        env=env,
        deadline=DEADLINE,
    )
    assert not outcome.killed, outcome.text
    assert outcome.elapsed < MAX_SECONDS, outcome.text
    assert outcome.peak_rss_mib < MAX_RSS_MIB
    return outcome


def status(url: str, method: str = "HEAD") -> int:
    """The status a destination gives a manifest or blob URL."""
    return requests.request(method, url, headers={"Accept": ACCEPT}, timeout=5).status_code


def manifest_at(dst: Any, repo: str, ref: str) -> bytes | None:
    """The exact manifest bytes the destination holds for ``ref``, or None."""
    got = requests.get(
        f"{dst.url}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}, timeout=5
    )
    return got.content if got.status_code == 200 else None


def serve_blobs(src: HostileRegistry, repo: str, blobs: dict[str, bytes]) -> None:
    """Honest blob answers (with Content-Length) for every blob of ``blobs``."""
    src.route("GET", rf"^/v2/{repo}/blobs/[^/]+$", blob_answers(blobs))


def send_chunked(r: Reply, data: bytes, headers: dict[str, str]) -> None:
    """Answer 200 with ``data`` in chunked transfer encoding: no Content-Length at all."""
    r.start(200, {"Transfer-Encoding": "chunked", **headers})
    if r.method == "HEAD":
        return
    for i in range(0, len(data), 1000):
        piece = data[i : i + 1000]
        r.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    r.write(b"0\r\n\r\n")


# -- (a) a digest rule fetches by its digest ---------------------------------------------------


def pinned_source(hostile: Pool, x: Image, y: Image, bytes_for_x: bytes) -> HostileRegistry:
    """HEAD of anything and GET by tag say Y; GET by X's digest serves ``bytes_for_x``."""
    src = hostile()

    def manifest(r: Reply) -> None:
        ref = r.path.rsplit("/", 1)[1]
        body = bytes_for_x if r.method == "GET" and ref == x.digest else y.manifest
        r.send(200, body, {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": y.digest})

    src.route("GET", r"^/v2/lab/app/manifests/[^/]+$", manifest)
    serve_blobs(src, "lab/app", {**x.blobs, **y.blobs})
    return src


def pinned_sync(
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp: Path,
    honest: bool,
) -> tuple[Image, Image, HostileRegistry, Any, Outcome]:
    """Sync X pinned by digest from :func:`pinned_source` (X's own bytes if ``honest``, else Y's).

    Returns X, Y, the source, the destination and the run.
    """
    x, y = make_image("x"), make_image("y")
    src = pinned_source(hostile, x, y, x.manifest if honest else y.manifest)
    dst = registry_factory()
    outcome = sync(tmp, env, {f"{src.host}/lab/app@{x.digest}": f"{dst.host}/mirror/app"})
    return x, y, src, dst, outcome


def test_a_digest_rule_copies_exactly_the_pinned_manifest_whatever_head_says(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    x, y, src, dst, outcome = pinned_sync(hostile, registry_factory, env, tmp_path, True)
    assert outcome.code == 0, outcome.text
    assert manifest_at(dst, "mirror/app", x.digest) == x.manifest
    assert manifest_at(dst, "mirror/app", y.digest) is None
    for digest in set(y.blobs) - set(x.blobs):  # Y's layer (the two share a config)
        assert status(f"{dst.url}/v2/mirror/app/blobs/{digest}") == 404
    assert not src.requests("GET", f"/manifests/{y.digest}"), "never fetched what HEAD named"
    assert f"source HEAD reported digest {y.digest}" in outcome.err
    # Run again: the destination holds the requested digest, so nothing is pulled.
    pulls = len(src.requests("GET", "/manifests/"))
    again = sync(tmp_path, env, {f"{src.host}/lab/app@{x.digest}": f"{dst.host}/mirror/app"})
    assert again.code == 0 and "0 synced, 1 skipped" in again.out, again.text
    assert len(src.requests("GET", "/manifests/")) == pulls


def test_a_digest_rule_whose_source_serves_other_bytes_commits_nothing(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    x, y, src, dst, outcome = pinned_sync(hostile, registry_factory, env, tmp_path, False)
    assert outcome.code == 1, outcome.text
    assert f"digest mismatch for manifest {src.host}/lab/app@{x.digest}" in outcome.text
    assert f"expected {x.digest}, got {y.digest}" in outcome.text
    for ref in (x.digest, y.digest):
        assert manifest_at(dst, "mirror/app", ref) is None
    for digest in {**x.blobs, **y.blobs}:
        assert status(f"{dst.url}/v2/mirror/app/blobs/{digest}") == 404
    assert not src.requests("GET", "/blobs/"), "no blob was read for an unverified manifest"


def test_a_head_digest_in_an_unsupported_algorithm_is_a_permanent_error(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    image = make_image("x")
    src = hostile()
    src.serve_image("lab/app", "v1", image)
    fake = "md5:" + hashlib.md5(image.manifest).hexdigest()
    src.route(
        "HEAD",
        r"^/v2/lab/app/manifests/v1$",
        lambda r: r.send(
            200, b"", {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": fake}
        ),
    )
    dst = registry_factory()
    outcome = sync(tmp_path, env, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    assert outcome.code == 1, outcome.text
    assert f"unsupported digest algorithm 'md5' in '{fake}'" in outcome.text
    assert len(src.requests("HEAD", "/manifests/v1")) == 1, "a permanent error is not retried"
    assert not src.requests("GET", "/manifests/"), "nothing was fetched unverifiable"
    assert status(f"{dst.url}/v2/mirror/app/manifests/v1") == 404


# -- (b) an index child served as schema1 must still match its digest ----------------------------


def index_of(child: Image) -> bytes:
    """An OCI index with one linux/amd64 entry: ``child``."""
    entry = {
        "mediaType": DOCKER_MANIFEST,
        "digest": child.digest,
        "size": len(child.manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()


def _garbled_schema1(layer: str) -> bytes:
    body, _ = signed_schema1([layer])
    doc = json.loads(body)
    doc["signatures"][0]["protected"] = "not base64url!"
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        (lambda layer: signed_schema1([layer])[0], "digest mismatch for manifest"),
        (_garbled_schema1, "schema1 signature field is not base64url"),
    ],
    ids=["other-payload", "unreadable-signature"],
)
def test_an_index_child_served_as_schema1_is_verified_against_its_digest(
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
    served: Callable[[str], bytes],
    reason: str,
) -> None:
    child = make_image("child")
    index = index_of(child)
    layer = next(iter(child.blobs))
    src = hostile()

    def manifest(r: Reply) -> None:
        ref = r.path.rsplit("/", 1)[1]
        if ref in ("v1", sha256(index)):
            r.send(200, index, {"Content-Type": OCI_INDEX, "Docker-Content-Digest": sha256(index)})
        else:  # the child, by digest: schema1 bytes, with the header naming the child's digest
            r.send(200, served(layer), {"Content-Type": SCHEMA1, "Docker-Content-Digest": ref})

    src.route("GET", r"^/v2/lab/app/manifests/[^/]+$", manifest)
    serve_blobs(src, "lab/app", child.blobs)
    dst = registry_factory()
    outcome = sync(tmp_path, env, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    assert outcome.code == 1, outcome.text
    assert reason in outcome.text and f"lab/app@{child.digest}" in outcome.text
    assert status(f"{dst.url}/v2/mirror/app/manifests/v1") == 404
    assert status(f"{dst.url}/v2/mirror/app/manifests/{child.digest}") == 404
    assert src.requests("GET", f"/manifests/{child.digest}"), "the child was fetched by digest"
    assert not src.requests("GET", "/blobs/")


# -- (c) sha512 digests are verified in sha512 ---------------------------------------------------


@pytest.mark.parametrize("honest", [True, False], ids=["matching", "mismatching"])
def test_a_sha512_digest_rule_is_verified_in_sha512(
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
    honest: bool,
) -> None:
    image, other = make_image("x"), make_image("other")
    pin = "sha512:" + hashlib.sha512(image.manifest).hexdigest()
    src = hostile()

    def manifest(r: Reply) -> None:
        body = image.manifest if honest else other.manifest
        r.send(200, body, {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": pin})

    src.route("GET", rf"^/v2/lab/app/manifests/{pin}$", manifest)
    serve_blobs(src, "lab/app", {**image.blobs, **other.blobs})
    dst = registry_factory()
    # distribution stores manifests under their sha256 digest: a tag names the copy.
    outcome = sync(tmp_path, env, {f"{src.host}/lab/app@{pin}": f"{dst.host}/mirror/app:pinned"})
    if honest:
        assert outcome.code == 0, outcome.text
        assert manifest_at(dst, "mirror/app", "pinned") == image.manifest
        return
    assert outcome.code == 1, outcome.text
    actual = "sha512:" + hashlib.sha512(other.manifest).hexdigest()
    assert f"expected {pin}, got {actual}" in outcome.text
    assert status(f"{dst.url}/v2/mirror/app/manifests/pinned") == 404
    for digest in {**image.blobs, **other.blobs}:
        assert status(f"{dst.url}/v2/mirror/app/blobs/{digest}") == 404


# -- (d) blobs of unknown length are streamed and verified before they commit ---------------------


def sizeless_image(layer: bytes) -> tuple[bytes, dict[str, bytes]]:
    """A Docker v2 manifest whose layer descriptor has no size: the length is unknown."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": sha256(config),
            },
            "layers": [{"mediaType": DOCKER_LAYER, "digest": sha256(layer)}],
        }
    ).encode()
    return manifest, {sha256(config): config, sha256(layer): layer}


@pytest.mark.parametrize("honest", [True, False], ids=["right-bytes", "wrong-bytes"])
def test_an_unknown_length_blob_is_streamed_and_verified_before_it_commits(
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
    honest: bool,
) -> None:
    layer = bytes(range(256)) * 1200  # 300 KiB, sent in many chunks
    manifest, blobs = sizeless_image(layer)
    layer_digest = sha256(layer)
    served = layer if honest else layer[:-1] + b"\x00"
    src = hostile()
    src.route(
        "GET",
        rf"^/v2/lab/app/manifests/(v1|{sha256(manifest)})$",
        lambda r: r.send(
            200,
            manifest,
            {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": sha256(manifest)},
        ),
    )
    serve_blobs(src, "lab/app", blobs)
    src.route(
        "GET",
        rf"^/v2/lab/app/blobs/{layer_digest}$",
        lambda r: send_chunked(r, served, {"Content-Type": "application/octet-stream"}),
    )
    dst = registry_factory()
    outcome = sync(tmp_path, env, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    assert len(src.requests("GET", f"/blobs/{layer_digest}")) == 1  # read once, not retried
    blob_url = f"{dst.url}/v2/mirror/app/blobs/{layer_digest}"
    if honest:
        assert outcome.code == 0, outcome.text
        head = requests.head(blob_url, timeout=5)
        assert head.status_code == 200 and head.headers["Content-Length"] == str(len(layer))
        assert requests.get(blob_url, timeout=5).content == layer
        assert manifest_at(dst, "mirror/app", "v1") == manifest
        return
    assert outcome.code == 1, outcome.text
    assert f"digest mismatch for blob {src.host}/lab/app@{layer_digest}" in outcome.text
    assert status(blob_url) == 404
    assert status(f"{dst.url}/v2/mirror/app/manifests/v1") == 404
