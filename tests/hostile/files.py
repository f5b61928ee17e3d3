"""Config files and destination checks shared by hostile tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
import yaml

from tests.hostile.server import DOCKER_MANIFEST


def write_images(tmp: Path, rules: dict[str, str], auth: dict[str, Any] | None = None) -> list[str]:
    """Write images.yaml (and auth.yaml); return the CLI arguments for them."""
    images = tmp / "images.yaml"
    images.write_text(yaml.safe_dump(rules))
    args = ["--images", str(images)]
    if auth is not None:
        path = tmp / "auth.yaml"
        path.write_text(yaml.safe_dump(auth))
        args += ["--auth", str(path)]
    return args


def dest_manifest(url: str, repo: str, tag: str) -> bytes | None:
    """The manifest bytes ``url`` holds for ``repo:tag``, or None if it holds none."""
    got = requests.get(
        f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": DOCKER_MANIFEST}, timeout=5
    )
    return got.content if got.status_code == 200 else None


def dest_tags(url: str, repo: str) -> list[str]:
    """The tags ``url`` lists for ``repo`` (none if the repository does not exist)."""
    got = requests.get(f"{url}/v2/{repo}/tags/list", timeout=5)
    return sorted(got.json().get("tags") or []) if got.status_code == 200 else []
