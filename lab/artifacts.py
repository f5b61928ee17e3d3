"""Artifacts that refer to images: signature-, SBOM- and attestation-like manifests.

Each is an OCI image manifest with ``artifactType``, the empty config and one
payload layer, and a ``subject`` naming the manifest it refers to
(image-spec "Artifacts Guidance"; distribution-spec 1.1 "Pushing Manifests with
Subject"). :func:`push_referrer` pushes one by digest and, in the ``fallback``
form, lists it in the subject's ``sha256-<hex>`` index tag as a client must
where a registry has no referrers API; the ``cosign`` form tags it
``sha256-<hex>.sig`` (or ``.att``, ``.sbom``) as cosign does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import requests

from lab.content import Blob, Manifest, SeedImage, sha256
from lab.push import _Pusher
from syncer.oci import mediatypes as mt

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM = "application/spdx+json"
ATTESTATION = "application/vnd.in-toto+json"

#: The empty JSON config every artifact here carries (image-spec: the empty descriptor).
EMPTY = Blob(sha256(b"{}"), 2, mt.OCI_EMPTY, b"{}")

Form = Literal["api", "fallback", "cosign"]


@dataclass(frozen=True, slots=True)
class Artifact:
    """A referrer: its manifest and payload, and the descriptor a referrers list gives it."""

    manifest: Manifest
    payload: Blob
    artifact_type: str
    subject: str

    def descriptor(self) -> dict[str, Any]:
        """The entry for a referrers list or fallback index."""
        return {
            "mediaType": self.manifest.media_type,
            "digest": self.manifest.digest,
            "size": self.manifest.size,
            "artifactType": self.artifact_type,
        }


def build_artifact(subject: Manifest, artifact_type: str, payload: bytes) -> Artifact:
    """An artifact manifest of ``artifact_type`` carrying ``payload``, referring to ``subject``."""
    blob = Blob(sha256(payload), len(payload), artifact_type, payload)
    body = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY.descriptor(),
        "layers": [blob.descriptor()],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        },
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    return Artifact(
        Manifest(mt.OCI_MANIFEST, raw, sha256(raw)), blob, artifact_type, subject.digest
    )


def fallback_tag(digest: str) -> str:
    """The Referrers Tag Schema tag for ``digest``."""
    return digest.replace(":", "-")


def push_referrer(
    base_url: str, repo: str, artifact: Artifact, form: Form, *, cosign_suffix: str = ".sig"
) -> None:
    """Push ``artifact`` into ``repo`` at ``base_url`` in ``form``.

    ``api``: by digest only (a registry with the API lists it itself);
    ``fallback``: by digest, then merged into the subject's index tag;
    ``cosign``: under the tag ``sha256-<hex><cosign_suffix>``.
    """
    tag = artifact.manifest.digest
    if form == "cosign":
        tag = fallback_tag(artifact.subject) + cosign_suffix
    image = SeedImage(
        repo,
        tag,
        artifact.manifest.digest,
        mt.OCI_MANIFEST,
        (artifact.manifest,),
        (EMPTY, artifact.payload),
    )
    with requests.Session() as session:
        pusher = _Pusher(base_url, session, True, None)
        pusher.push_image(image)
        if form == "fallback":
            index = _merged(pusher, repo, artifact)
            pusher.put_manifest(repo, fallback_tag(artifact.subject), mt.OCI_INDEX, index)


def _merged(pusher: _Pusher, repo: str, artifact: Artifact) -> bytes:
    """The subject's fallback index with ``artifact`` added, as the spec asks of clients."""
    url = f"{pusher.base}/v2/{repo}/manifests/{fallback_tag(artifact.subject)}"
    resp = pusher.send("GET", repo, url, headers={"Accept": mt.OCI_INDEX})
    entries = resp.json()["manifests"] if resp.status_code == 200 else []
    if all(e["digest"] != artifact.manifest.digest for e in entries):
        entries.append(artifact.descriptor())
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    return json.dumps(doc, separators=(",", ":")).encode()
