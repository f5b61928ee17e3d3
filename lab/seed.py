"""``python -m lab.seed URL``: push the demo's image set into the registry at URL.

The compose ``demo`` profile runs it (in syncer's image, with ``lab/``
mounted) against its source registry; ``scripts/demo`` seeds the same set.
It waits for the registry to answer first, as a container started beside it
must.
"""

from __future__ import annotations

import argparse
import sys
import time

import requests

from lab.images import ImageSet, build_image_set
from lab.push import push_image_set
from lab.registry import LabError
from syncer.engine.progress import human_bytes

#: Seconds to wait for the registry's ``/v2/`` to answer.
READY_TIMEOUT = 60.0


def demo_image_set(large_layer_mib: int = 96) -> ImageSet:
    """The demo's images: 4 small repositories of 3 tags, a large layer, and multi-platform tags."""
    return build_image_set(repos=4, tags_per_repo=3, large_layer_size=large_layer_mib << 20)


def describe(images: ImageSet) -> str:
    """``17 tagged images in 6 repositories (96.6 MiB)``."""
    total = sum(b.size for b in images.blobs().values())
    return (
        f"{len(images.images)} tagged images in {len(images.repos)} repositories "
        f"({human_bytes(total)})"
    )


def wait_ready(url: str, timeout: float = READY_TIMEOUT) -> None:
    """Return once ``URL/v2/`` answers 200 or 401; raise :class:`LabError` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/v2/", timeout=2).status_code in (200, 401):
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise LabError(f"{url}/v2/ did not answer within {timeout:.0f}s")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    """``python -m lab.seed URL``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the registry, e.g. http://registry-src:5000")
    parser.add_argument("--large-layer-mib", type=int, default=96)
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    try:
        wait_ready(url)
        images = demo_image_set(args.large_layer_mib)
        print(f"seeding {describe(images)} into {url}", flush=True)
        push_image_set(url, images)
    except (LabError, requests.RequestException) as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 1
    print("seeded: lab/app0 … lab/app3, lab/large, lab/multi", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
