"""The hostile toolkit itself: an honest scripted source syncs, and lifetimes are bounded."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.hostile import HostileRegistry, Pool, make_image
from tests.support.hostile_kit import write_images
from tests.support.runner import run_syncer


@pytest.mark.integration
def test_an_honest_scripted_source_syncs_to_a_real_registry(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("honest")
    src.serve_image("lab/app", "v1", image)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    outcome = run_syncer(["sync", *args, "--cache", "none"], env=env, deadline=60)
    assert outcome.code == 0, outcome.text
    got = requests.get(
        f"{dst.url}/v2/mirror/app/manifests/v1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=5,
    )
    assert got.content == image.manifest
    assert src.requests("GET", "/blobs/"), "the layer was streamed from the scripted source"
    assert outcome.peak_rss_mib > 10


def test_a_server_stops_at_the_end_of_its_lifetime() -> None:
    server = HostileRegistry(lifetime=0.5).start()
    server.route("GET", r"/hang$", lambda r: r.hang())
    started = time.monotonic()
    with pytest.raises(requests.RequestException):
        requests.get(f"{server.url}/hang", timeout=5)
    assert time.monotonic() - started < 3
    assert server.stopped.is_set()
