"""Signing a repository's tags: a signature and an SBOM refer to each image (scenario i).

Both are pushed in the Referrers Tag Schema form (distribution 2.8 has no
referrers API): by digest, and listed in the image's ``sha256-<hex>`` index tag.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from lab.artifacts import SBOM, SIGNATURE, build_artifact, push_referrer
from lab.content import Manifest
from syncer.oci import mediatypes as mt

#: What each image gets, in push order.
KINDS = (SIGNATURE, SBOM)


def subject_of(base: str, repo: str, tag: str) -> Manifest:
    """The manifest ``repo:tag`` names at ``base``, as a subject to sign."""
    url = f"{base}/v2/{repo}/manifests/{tag}"
    resp = requests.get(url, headers={"Accept": mt.MANIFEST_ACCEPT}, timeout=60)
    resp.raise_for_status()
    kind = resp.headers["Content-Type"].split(";")[0].strip()
    return Manifest(kind, resp.content, resp.headers["Docker-Content-Digest"])


def sign_tags(base: str, repo: str, tags: list[str], *, threads: int = 8) -> None:
    """Push a signature and an SBOM referring to each ``repo:tag`` at ``base``."""

    def sign(tag: str) -> None:
        subject = subject_of(base, repo, tag)
        for kind in KINDS:
            art = build_artifact(subject, kind, f"{kind} of {repo}:{tag}".encode())
            push_referrer(base, repo, art, "fallback")

    # The first alone: every artifact shares the empty config blob, and
    # concurrent first uploads of one blob can leave a manifest PUT without it.
    sign(tags[0])
    with ThreadPoolExecutor(threads) as ex:
        for fut in [ex.submit(sign, t) for t in tags[1:]]:
            fut.result()
