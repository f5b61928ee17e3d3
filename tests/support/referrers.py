"""Signing lab images with referrers, and reading referrers back the way a client does."""

from __future__ import annotations

import requests

from lab.artifacts import ATTESTATION, SBOM, SIGNATURE, Artifact, build_artifact, push_referrer
from lab.artifacts import fallback_tag as tag_of
from lab.content import Manifest
from lab.images import ImageSet

_INDEX = "application/vnd.oci.image.index.v1+json"

#: Unit-test values: an artifact type, a subject digest, and a referrer entry of that type.
SPDX = SBOM
SUBJECT = "sha256:" + "a" * 64
ENTRY = {"mediaType": "m/t", "digest": "sha256:" + "b" * 64, "size": 3, "artifactType": SPDX}


def subjects(image_set: ImageSet) -> list[Manifest]:
    """An image, an index, and a platform child of that index."""
    oci = image_set.get("lab/multi", "oci").manifests[-1]
    index = image_set.get("lab/multi", "index").manifests
    return [oci, index[-1], index[0]]


def sign(url: str, subject: Manifest, form: str, *kinds: str) -> list[Artifact]:
    """Push one artifact of each kind referring to ``subject``, in ``form``."""
    made = []
    for kind in kinds or (SIGNATURE, SBOM, ATTESTATION):
        art = build_artifact(subject, kind, f"{kind} of {subject.digest}".encode())
        push_referrer(url, "lab/multi", art, form)  # type: ignore[arg-type]
        made.append(art)
    return made


def listed(url: str, repo: str, digest: str, *, api: bool) -> dict[str, str]:
    """The referrers a registry lists for ``digest``, digest -> artifactType."""
    if api:
        resp = requests.get(f"{url}/v2/{repo}/referrers/{digest}", timeout=30)
    else:
        resp = requests.get(
            f"{url}/v2/{repo}/manifests/{tag_of(digest)}", headers={"Accept": _INDEX}, timeout=30
        )
        if resp.status_code == 404:
            return {}
    resp.raise_for_status()
    return {e["digest"]: e["artifactType"] for e in resp.json()["manifests"]}


def manifest(url: str, repo: str, ref: str) -> bytes | None:
    # distribution 2.8 hides an OCI manifest from a client that does not accept it.
    accept = {"Accept": f"{_INDEX}, application/vnd.oci.image.manifest.v1+json"}
    resp = requests.get(f"{url}/v2/{repo}/manifests/{ref}", headers=accept, timeout=30)
    return resp.content if resp.status_code == 200 else None


def same_referrers(
    src: str,
    dst: str,
    arts: list[Artifact],
    *,
    src_api: bool,
    dst_api: bool,
    repo: str = "mirror/multi",
) -> None:
    """``dst`` (its ``repo``) lists the referrers ``src`` lists, and holds them byte for byte."""
    for subject in {a.subject for a in arts}:
        want = listed(src, "lab/multi", subject, api=src_api)
        assert want == {a.manifest.digest: a.artifact_type for a in arts if a.subject == subject}
        assert listed(dst, repo, subject, api=dst_api) == want
    for art in arts:
        assert manifest(dst, repo, art.manifest.digest) == art.manifest.body
        blob = requests.head(f"{dst}/v2/{repo}/blobs/{art.payload.digest}", timeout=30)
        assert blob.status_code == 200
