"""The embedded demo: two throwaway registries, a seeded image set, ``syncer sync``.

Run with ``python -m lab.demo``. Everything binds to 127.0.0.1 and is
deleted at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from lab.images import build_image_set
from lab.push import push_image_set
from lab.registry import RegistryServer
from syncer.cli.main import main as syncer_main
from syncer.engine.progress import human_bytes


def _banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def run(large_layer_mib: int) -> int:
    """Start registries, seed, sync twice (cold, then no-op), return the exit code."""
    with (
        tempfile.TemporaryDirectory(prefix="syncer-demo-") as tmp,
        RegistryServer() as source,
        RegistryServer() as dest,
    ):
        work = Path(tmp)
        images = build_image_set(repos=4, tags_per_repo=3, large_layer_size=large_layer_mib << 20)
        total = sum(b.size for b in images.blobs().values())
        _banner(f"seeding {len(images.images)} images ({human_bytes(total)}) into {source.host}")
        push_image_set(source.url, images)
        config = {
            "auth": {source.host: {"insecure": True}, dest.host: {"insecure": True}},
            "images": {
                f"{source.host}/lab/app0": f"{dest.host}/mirror/app0",
                f"{source.host}/lab/app1:v1,v2": f"{dest.host}/mirror/app1:stable,previous",
                f"{source.host}/lab/app2:/^v[23]$/": f"{dest.host}/mirror/app2",
                f"{source.host}/lab/app3": [f"{dest.host}/mirror/app3", f"{dest.host}/backup/app3"],
                f"{source.host}/lab/large:v1": f"{dest.host}/mirror/large",
                f"{source.host}/lab/multi": f"{dest.host}/mirror/multi",
            },
        }
        config_file = work / "config.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        print(config_file.read_text(), end="")
        args = [
            "sync",
            str(config_file),
            "--cache",
            str(work / "blobs.json"),
            "--output-success-images",
            str(work / "synced.yaml"),
        ]
        _banner(f"syncer {' '.join(args)}")
        code = syncer_main(args)
        if code != 0:
            return code
        first = source.count_requests("GET", "/manifests/")
        _banner("the same sync again: unchanged tags are skipped with HEAD requests only")
        code = syncer_main(args)
        second = source.count_requests("GET", "/manifests/") - first
        print(
            f"\nsource manifest GETs (from the registry's access log): "
            f"{first} in the first run, {second} in the second"
        )
        return code


def main(argv: list[str] | None = None) -> int:
    """``python -m lab.demo``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--large-layer-mib",
        type=int,
        default=96,
        help="size of the demo's large layer (uploaded in resumable chunks)",
    )
    return run(parser.parse_args(argv).large_layer_mib)


if __name__ == "__main__":
    sys.exit(main())
