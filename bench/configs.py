"""The two files every copier but skopeo reads: image-syncer's auth and images formats.

``syncer sync``, ``syncer plan`` and image-syncer all take them, so one
writer serves all three and the copiers are told exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml


def write_auth(path: Path, hosts: list[str]) -> Path:
    """An auth file naming each of ``hosts`` as plain HTTP (``insecure: true``), no credentials."""
    path.write_text(yaml.safe_dump({host: {"insecure": True} for host in hosts}))
    return path


def write_images(path: Path, rules: Mapping[str, str]) -> Path:
    """An images file: each source repository to its destination repository, every tag."""
    path.write_text(yaml.safe_dump(dict(rules), sort_keys=False))
    return path
