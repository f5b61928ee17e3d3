"""What one shaped host can move: ``python -m bench.linkcheck [--mbit 200] [--mib 64]``.

It runs on one network-namespace host whose link is shaped with tbf, as in scenario
(c). It times three things against real ``docker-registry`` servers on the bench
bridge:
- a curl GET of one blob;
- a curl monolithic PUT of the same blob;
- ``syncer sync`` copying an image made of that blob, end to end.

This separates the link, distribution's ingest and syncer's own overhead.
Everything it creates is removed on exit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.netns import Network, host_name
from bench.servers import BenchRegistry
from bench.settings import BRIDGE_ADDR

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _upload(base: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = requests.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=30).headers["Location"]
    url = loc if loc.startswith("http") else base + loc
    sep = "&" if "?" in url else "?"
    requests.put(f"{url}{sep}digest={digest}", data=data, timeout=120).raise_for_status()
    return digest


def _curl_put(ns: list[str], base: str, repo: str, path: Path, digest: str) -> float:
    head = subprocess.run(
        [
            *ns,
            "curl",
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            f"{base}/v2/{repo}/blobs/uploads/",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    loc = next(
        line.split(": ", 1)[1].strip()
        for line in head.splitlines()
        if line.lower().startswith("location:")
    )
    url = loc if loc.startswith("http") else base + loc
    sep = "&" if "?" in url else "?"
    start = time.monotonic()
    subprocess.run(
        [
            *ns,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            f"@{path}",
            f"{url}{sep}digest={digest}",
        ],
        check=True,
        timeout=300,
    )
    return time.monotonic() - start


def main() -> None:
    """Set up, measure, print, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbit", type=int, default=200)
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    size = args.mib << 20
    data = os.urandom(size)
    work = Path(tempfile.mkdtemp(prefix="syncer-linkcheck-"))
    blob = work / "blob"
    blob.write_bytes(data)
    net = Network(1, args.mbit)
    net.open()
    src = BenchRegistry(BRIDGE_ADDR, 5796, work / "src")
    dst = BenchRegistry(BRIDGE_ADDR, 5797, work / "dst")
    src.start()
    dst.start()
    ns = ["ip", "netns", "exec", host_name(1)]

    def rate(seconds: float) -> str:
        return f"{seconds:.2f} s, {size * 8 / seconds / 1e6:.0f} Mbit/s"

    try:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        print(
            f"link shaped to {args.mbit} Mbit/s each way; blob {args.mib} MiB; "
            f"nominal floor {size * 8 / (args.mbit * 1e6):.2f} s"
        )
        print("curl PUT into distribution:", rate(_curl_put(ns, src.url, "lab/big", blob, digest)))
        start = time.monotonic()
        subprocess.run(
            [*ns, "curl", "-s", "-o", "/dev/null", f"{src.url}/v2/lab/big/blobs/{digest}"],
            check=True,
            timeout=300,
        )
        print("curl GET from distribution:", rate(time.monotonic() - start))
        config = _upload(src.url, "lab/big", b"{}")
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest,
                    "size": size,
                }
            ],
        }
        requests.put(
            f"{src.url}/v2/lab/big/manifests/v1",
            data=json.dumps(manifest),
            headers={"Content-Type": OCI_MANIFEST},
            timeout=30,
        ).raise_for_status()
        conf = work / "config.json"
        conf.write_text(
            json.dumps(
                {
                    "auth": {src.host: {"insecure": True}, dst.host: {"insecure": True}},
                    "images": {f"{src.host}/lab/big:v1": f"{dst.host}/mirror/big"},
                }
            )
        )
        start = time.monotonic()
        subprocess.run(
            [*ns, sys.executable, "-m", "syncer", "sync", str(conf), "--cache", "none"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        print("syncer sync, end to end (process start to exit):", rate(time.monotonic() - start))
    finally:
        src.stop()
        dst.stop()
        net.close()
        blob.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
