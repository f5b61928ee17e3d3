"""The worker Deployment rolls a fleet without ever leaving the queue short of workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from syncer import defaults

WORKER = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "worker.yaml"


def _deployment() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(WORKER.read_text()) if isinstance(d, dict)]
    return next(d for d in docs if d["kind"] == "Deployment")


def test_new_workers_are_ready_before_old_ones_stop() -> None:
    spec = _deployment()["spec"]

    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    assert spec["minReadySeconds"] >= 10, "a worker that crashes at start must not count"


def test_a_stopping_worker_has_longer_than_the_visibility_timeout_to_hand_over() -> None:
    pod = _deployment()["spec"]["template"]["spec"]

    assert pod["terminationGracePeriodSeconds"] > defaults.VISIBILITY_TIMEOUT
