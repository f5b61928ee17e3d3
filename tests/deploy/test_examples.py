"""The shipped example files teach what works: the auth example and the Grafana dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from syncer.config.files import load_auth

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_auth_example_keeps_a_harbor_robot_name_whole() -> None:
    # `$` starts a variable in an --auth file (as in image-syncer): a robot name
    # written there as is would load as "robot", so the example takes it from
    # the environment, where it stays whole.
    text = (DEPLOY / "auth.example.yaml").read_text()
    values = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert all(re.fullmatch(r"[^$]*(\$\{\w+\}[^$]*)*", line) for line in values), values
    environ = {
        "SRC_USER": "reader",
        "SRC_PASSWORD": "s3cret",
        "HARBOR_ROBOT": "robot$mirror",
        "HARBOR_ROBOT_SECRET": "t0ken",
    }
    auth = load_auth(DEPLOY / "auth.example.yaml", environ=environ)
    assert auth["harbor.example.com/mirror"].username == "robot$mirror"
    assert auth["registry.example.com"].max_connections == 16


def test_the_throughput_panel_is_a_rate_of_the_bytes_counter() -> None:
    # Prometheus scrapes every 15 s; a gauge averaged over the worker's last
    # 10 s misses a third of what happened. rate() of the counter misses nothing.
    dashboard = json.loads((DEPLOY / "grafana" / "syncer.json").read_text())
    [panel] = [p for p in dashboard["panels"] if p.get("title") == "Throughput"]
    exprs = [t["expr"] for t in panel["targets"]]
    assert exprs and all("rate(syncer_bytes_copied_total[" in e for e in exprs), exprs
    everything = json.dumps(dashboard)
    assert "syncer_transfer_throughput_bytes_per_second" not in everything
