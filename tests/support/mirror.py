"""Shaping a mirror for verify and prune tests: tags put, moved and removed behind syncer's back."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from lab.content import ImageSet, SeedImage
from lab.images import push_image_set
from tests.support.embedded import Run, write_config
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure

#: The manifest types a HEAD accepts here (what the lab pushes).
ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


def put_as(registry: LabRegistry, image: SeedImage, repo: str, tag: str) -> str:
    """Push ``image`` to ``registry`` as ``repo:tag``; return its digest."""
    moved = dataclasses.replace(image, repo=repo, tag=tag)
    push_image_set(registry.url, ImageSet((moved,)), auth=registry.auth, verify=registry.verify)
    return image.digest


def digest_of(registry: LabRegistry, repo: str, tag: str) -> str:
    """The digest ``repo:tag`` points at, or "" when it is not there."""
    resp = requests.head(
        f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=10
    )
    return resp.headers.get("Docker-Content-Digest", "") if resp.status_code == 200 else ""


def remove(registry: LabRegistry, repo: str, tag: str) -> None:
    """Delete ``repo:tag`` by its digest (distribution deletes by digest only)."""
    digest = digest_of(registry, repo, tag)
    assert digest, f"{repo}:{tag} is not there"
    resp = requests.delete(f"{registry.url}/v2/{repo}/manifests/{digest}", timeout=10)
    assert resp.status_code == 202, resp.text


def tags(registry: LabRegistry, repo: str) -> list[str]:
    """The repository's tags, sorted; none when it is not there."""
    resp = requests.get(f"{registry.url}/v2/{repo}/tags/list", timeout=10)
    return [] if resp.status_code == 404 else sorted(resp.json().get("tags") or [])


def config_file(path: Path, images: dict[str, Any], *registries: LabRegistry) -> Path:
    """A one-file config for ``images``, every registry marked insecure."""
    return write_config(path, {"auth": insecure(*(r.host for r in registries)), "images": images})


def rows(run: Run, status: str | None = None) -> list[dict[str, Any]]:
    """The checks of a ``verify --output json`` run (of one status)."""
    return [c for c in run.report["checks"] if status is None or c["status"] == status]


def by_dest(checks: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Checks keyed by destination reference, without the registry host."""
    return {c["dest"].split("/", 1)[1]: c for c in checks}


RunCmd = Callable[..., Run]
