"""What every scenario shares: the servers, the seeded data, the options, the work directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from bench.configs import write_auth, write_images
from bench.dataset import Dataset, MainSet
from bench.servers import BenchRegistry, RedisServer
from bench.settings import Profile
from syncer.oci import mediatypes as mt

#: Where copies land in the destination registry: ``lab/app0`` → ``mirror/app0``.
DEST_PREFIX = "mirror"


@dataclass(frozen=True, slots=True)
class Options:
    """The command-line knobs the scenarios read."""

    runs: int
    #: ``syncer sync -p`` and ``syncer worker -p``.
    proc: int
    worker_proc: int
    link_mbit: int
    profile_dir: Path | None = None
    #: image-syncer's binary, or None when it is not there (it is then left out).
    image_syncer: Path | None = None


@dataclass
class Bench:
    """The running benchmark: servers, data, options and scratch directory."""

    profile: Profile
    options: Options
    source: BenchRegistry
    dest: BenchRegistry
    redis: RedisServer
    dataset: Dataset
    workdir: Path
    main: MainSet

    def dest_repo(self, repo: str) -> str:
        """The destination path of source repository ``repo`` (its last component under mirror/)."""
        return f"{DEST_PREFIX}/{repo.rsplit('/', 1)[-1]}"

    def auth_file(self) -> Path:
        """image-syncer auth file: both registries plain HTTP (``insecure: true``)."""
        return write_auth(self.workdir / "auth.yaml", [self.source.host, self.dest.host])

    def images_file(self, repos: list[str], name: str = "images") -> Path:
        """image-syncer images file copying every tag of each of ``repos``."""
        rules = {f"{self.source.host}/{r}": f"{self.dest.host}/{self.dest_repo(r)}" for r in repos}
        return write_images(self.workdir / f"{name}.yaml", rules)

    def largest_blob_url(self, repo: str, tag: str = "v1") -> str:
        """URL of the biggest layer of ``repo:tag`` in the source (a Docker v2 image)."""
        headers = {"Accept": mt.DOCKER_MANIFEST}
        resp = requests.get(
            f"{self.source.url}/v2/{repo}/manifests/{tag}", headers=headers, timeout=60
        )
        layer = max(resp.json()["layers"], key=lambda d: d["size"])
        return f"{self.source.url}/v2/{repo}/blobs/{layer['digest']}"

    def verify(self, repos: list[str]) -> str:
        """Compare every tag's digest at source and destination; "" if all match."""
        with requests.Session() as s:
            s.headers["Accept"] = mt.MANIFEST_ACCEPT
            for repo in repos:
                tags = s.get(f"{self.source.url}/v2/{repo}/tags/list?n=100000", timeout=60)
                for tag in tags.json().get("tags") or []:
                    want = s.head(f"{self.source.url}/v2/{repo}/manifests/{tag}", timeout=60)
                    got = s.head(
                        f"{self.dest.url}/v2/{self.dest_repo(repo)}/manifests/{tag}", timeout=60
                    )
                    a = want.headers.get("Docker-Content-Digest")
                    b = got.headers.get("Docker-Content-Digest")
                    if got.status_code != 200 or a != b:
                        return f"{repo}:{tag}: source {a}, destination {got.status_code} {b}"
        return ""
