"""Air-gapped mirror tests: layout rules, comparing two registries, skopeo and podman as oracles."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.binaries import require_binary
from tests.support.verify import RegistryReader, verify_image

#: Longest a skopeo or podman command may take here.
TOOL_TIMEOUT = 180


def export_rules(src_host: str, repos: list[str], root: Path) -> dict[str, str]:
    """One rule per repository: ``src/repo`` -> ``oci:root/repo``."""
    return {f"{src_host}/{repo}": f"oci:{root}/{repo}" for repo in repos}


def import_rules(root: Path, repos: list[str], dst_host: str) -> dict[str, str]:
    """One rule per repository: ``oci:root/repo`` -> ``dst/repo``."""
    return {f"oci:{root}/{repo}": f"{dst_host}/{repo}" for repo in repos}


def same_tags(src: RegistryReader, dst: RegistryReader, repos: list[str]) -> int:
    """Every tag of ``repos`` at ``dst`` is the source's, byte for byte, with its whole tree.

    Returns how many tags were compared.
    """
    compared = 0
    for repo in repos:
        tags = src.tags(repo)
        assert tags, f"{repo}: the source has no tags"
        assert dst.tags(repo) == tags, repo
        for tag in tags:
            body, media = src.get_manifest(repo, tag)
            assert dst.get_manifest(repo, tag) == (body, media), f"{repo}:{tag}"
            status, digest = src.head_manifest(repo, tag)
            verify_image(dst, repo, tag, digest)
            compared += 1
    return compared


def blob_files(root: Path) -> dict[Path, os.stat_result]:
    """Every blob file of every layout under ``root``."""
    return {p: p.stat() for p in root.rglob("blobs/sha256/*") if p.is_file()}


def layout_index(layout: Path) -> dict[str, Any]:
    """A layout's index.json."""
    return json.loads((layout / "index.json").read_text())  # type: ignore[no-any-return]


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run skopeo (skipped locally when missing, failed in CI); assert it succeeded."""
    binary = require_binary("skopeo")
    done = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )
    assert done.returncode == 0, f"skopeo {' '.join(args)}: {done.stderr}"
    return done


def podman(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run podman as root on a throwaway vfs store under ``store``; assert it succeeded."""
    binary = require_binary("podman")
    flags = ["--root", str(store / "root"), "--runroot", str(store / "run")]
    flags += ["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    # podman stats $DOCKER_CONFIG/config.json, which a test's isolated environment leaves out.
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_CONFIG"}
    done = subprocess.run(
        [binary, *flags, *args],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
        env=env,
    )
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr}"
    return done
