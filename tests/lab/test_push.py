"""The lab pusher against real registries: what it pushes reads back byte for byte."""

from __future__ import annotations

import pytest
import requests

from lab.images import ImageSet, build_image_set, push_image_set
from lab.registry import LabError
from syncer.oci import mediatypes as mt
from tests.support.registries import LabRegistry


def assert_readable(registry: LabRegistry, images: ImageSet) -> None:
    """Every tag answers with the generated digest, bytes and type; every blob exists."""
    with requests.Session() as session:
        session.auth = registry.auth
        # Per request, not session.verify: requests lets $REQUESTS_CA_BUNDLE override that.
        verify = registry.verify
        for image in images.images:
            url = f"{registry.url}/v2/{image.repo}/manifests/{image.tag}"
            resp = session.get(url, headers={"Accept": mt.MANIFEST_ACCEPT}, verify=verify)
            assert resp.status_code == 200, (image.reference, resp.text)
            assert resp.headers["Docker-Content-Digest"] == image.digest
            assert resp.headers["Content-Type"] == image.media_type
            assert resp.content == image.manifests[-1].body
            for manifest in image.manifests:
                url = f"{registry.url}/v2/{image.repo}/manifests/{manifest.digest}"
                accept = {"Accept": mt.MANIFEST_ACCEPT}
                assert session.head(url, headers=accept, verify=verify).ok
            for blob in image.blobs:
                url = f"{registry.url}/v2/{image.repo}/blobs/{blob.digest}"
                head = session.head(url, verify=verify)
                assert head.status_code == 200, (image.reference, blob.digest)
                assert int(head.headers["Content-Length"]) == blob.size


def test_push_to_open_registry_reads_back(open_registry: LabRegistry, image_set: ImageSet) -> None:
    uploaded = push_image_set(open_registry.url, image_set)
    assert uploaded == sum(len(i.blobs) for i in image_set.images) - _blobs_seen_twice(image_set)
    assert_readable(open_registry, image_set)
    server = open_registry.server
    assert server.count_requests("PUT", "/manifests/") == sum(
        len(i.manifests) for i in image_set.images
    )


def _blobs_seen_twice(image_set: ImageSet) -> int:
    """Blobs an image shares with an earlier image of the same repository."""
    seen: set[tuple[str, str]] = set()
    repeats = 0
    for image in image_set.images:
        for blob in image.blobs:
            repeats += (image.repo, blob.digest) in seen
            seen.add((image.repo, blob.digest))
    return repeats


def test_second_push_uploads_nothing(open_registry: LabRegistry) -> None:
    images = build_image_set(5, repos=1, tags_per_repo=1, large_layer_size=0)
    assert push_image_set(open_registry.url, images) > 0
    with requests.Session() as session:
        assert push_image_set(open_registry.url, images, session=session) == 0


def test_push_with_basic_auth(basic_registry: LabRegistry, image_set: ImageSet) -> None:
    with pytest.raises(LabError, match="401"):
        push_image_set(basic_registry.url, image_set)
    with pytest.raises(LabError, match="401"):
        push_image_set(basic_registry.url, image_set, auth=("alice", "wrong"))
    push_image_set(basic_registry.url, image_set, auth=basic_registry.auth)
    assert_readable(basic_registry, ImageSet(image_set.images[:1]))


def test_push_with_token_auth_fetches_one_token_per_repo(
    token_registry: LabRegistry, image_set: ImageSet
) -> None:
    push_image_set(token_registry.url, image_set, auth=token_registry.auth)
    issuer = token_registry.issuer
    assert issuer is not None
    assert sorted(r.scopes for r in issuer.requests) == sorted(
        (f"repository:{repo}:pull,push",) for repo in image_set.repos
    )
    assert {r.account for r in issuer.requests} == {"alice"}


def test_push_over_tls(tls_registry: LabRegistry) -> None:
    images = build_image_set(2, repos=1, tags_per_repo=1, large_layer_size=0)
    push_image_set(tls_registry.url, images, verify=tls_registry.verify)
    assert_readable(tls_registry, images)
