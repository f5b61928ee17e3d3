"""What a destination holds after a hostile run: tags and blobs, asked over plain HTTP."""

from __future__ import annotations

import requests


def tags_at(url: str, repo: str) -> list[str]:
    """The tags ``repo`` has at the registry at ``url`` (none if the repository is unknown)."""
    resp = requests.get(f"{url}/v2/{repo}/tags/list", timeout=10)
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    return list(resp.json().get("tags") or [])


def has_blob(url: str, repo: str, digest: str) -> bool:
    """Whether ``repo`` at ``url`` holds the blob ``digest``."""
    resp = requests.head(f"{url}/v2/{repo}/blobs/{digest}", timeout=10)
    return resp.status_code == 200
