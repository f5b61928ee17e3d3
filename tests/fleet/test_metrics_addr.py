"""A worker started with the image's environment serves ``/metrics`` beyond loopback.

``deploy/Dockerfile`` sets ``SYNCER_METRICS_ADDR=0.0.0.0``, so ``syncer worker
--metrics-port N`` in the container answers on the pod's address, where
Prometheus scrapes it. Off loopback is tried at 127.0.0.2: a socket bound to
127.0.0.1 does not answer there, one bound to 0.0.0.0 does. Without the
variable (outside a container) the port stays on loopback only.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from lab.registry import free_port
from tests.support.dockerfile import env as image_env
from tests.support.processes import WorkerFactory
from tests.support.scenario import write_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _answers(host: str, port: int, timeout: float = 20.0) -> bool:
    """Whether ``http://host:port/metrics`` answers 200 within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return requests.get(f"http://{host}:{port}/metrics", timeout=2).status_code == 200
        except requests.ConnectionError:
            time.sleep(0.2)
    return False


def test_the_images_environment_makes_worker_metrics_reachable_off_loopback(
    workers: WorkerFactory, fleet_home: Path
) -> None:
    image = image_env()
    assert image["SYNCER_METRICS_ADDR"] == "0.0.0.0"
    auth = write_json(fleet_home / "auth.json", {})
    in_image, plain = free_port(), free_port()
    workers(
        1,
        auth=auth,
        env={
            "SYNCER_METRICS_ADDR": image["SYNCER_METRICS_ADDR"],
            "SYNCER_METRICS_PORT": str(in_image),
        },
    )
    workers(1, auth=auth, env={"SYNCER_METRICS_ADDR": "", "SYNCER_METRICS_PORT": str(plain)})
    assert _answers("127.0.0.2", in_image)
    assert _answers("127.0.0.1", plain)  # it serves, on loopback only:
    assert not _answers("127.0.0.2", plain, timeout=1.0)
