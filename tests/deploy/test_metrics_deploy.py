"""Prometheus finds what the workers and ``syncer metrics`` serve, in compose and Kubernetes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.test_deploy_files import _by_kind, _compose, compose, compose_env  # noqa: F401
from tests.support.dockerfile import env as image_env

ROOT = Path(__file__).resolve().parents[2]


def _mount(volume: str | dict[str, str]) -> tuple[str, Path]:
    """``(target, source)`` of a volume, in the short (``SRC:DST:ro``) or the long syntax."""
    if isinstance(volume, dict):
        return volume["target"], Path(volume["source"])
    source, target = volume.split(":")[:2]
    return target, Path(source)


def _flag(args: list[str], name: str) -> str:
    return str(args[args.index(name) + 1])


def test_compose_workers_and_the_plan_gauges_serve_what_prometheus_scrapes(
    compose: dict[str, Any],  # noqa: F811
) -> None:
    services = compose["services"]
    worker, gauges = services["worker"]["command"], services["metrics"]["command"]
    assert _flag(worker, "--metrics-addr") == "0.0.0.0" and gauges[0] == "metrics"
    assert "SYNCER_AUTH_FILE" not in services["metrics"]["environment"]
    assert not services["metrics"].get("volumes"), "the plan gauges need no credentials"
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in scrape["scrape_configs"]}
    dns = jobs["syncer-workers"]["dns_sd_configs"][0]
    assert dns["names"] == ["worker"] and str(dns["port"]) == _flag(worker, "--metrics-port")
    port = _flag(gauges, "--port")
    assert jobs["syncer-plans"]["static_configs"][0]["targets"] == [f"metrics:{port}"]


def test_compose_monitoring_profile_mounts_the_shipped_dashboard(
    compose_env: dict[str, str],  # noqa: F811
) -> None:
    result = _compose("--profile", "monitoring", "config", env=compose_env)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["grafana"]["profiles"] == services["prometheus"]["profiles"] == ["monitoring"]
    mounts = dict(_mount(v) for v in services["grafana"]["volumes"])
    dashboard = mounts["/var/lib/grafana/dashboards/syncer.json"]
    assert dashboard == ROOT / "deploy" / "grafana" / "syncer.json" and dashboard.is_file()
    assert (mounts["/etc/grafana/provisioning"] / "dashboards" / "syncer.yaml").is_file()


def test_k8s_pods_announce_the_port_they_serve_metrics_on() -> None:
    for name, flag in (("syncer-worker", "--metrics-port"), ("syncer-metrics", "--port")):
        template = _by_kind("Deployment")[name]["spec"]["template"]
        notes = template["metadata"]["annotations"]
        container = template["spec"]["containers"][0]
        port = _flag(container["args"], flag)
        assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/port"] == port
        assert [p["containerPort"] for p in container["ports"]] == [int(port)]
    # Both listen on the pod's address: the image's environment says so for the
    # worker (tests/fleet/test_metrics_addr.py), the flag for `syncer metrics`.
    worker = _by_kind("Deployment")["syncer-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert image_env()["SYNCER_METRICS_ADDR"] == "0.0.0.0"
    assert "SYNCER_METRICS_ADDR" not in {e["name"] for e in worker["env"]}
    gauges = _by_kind("Deployment")["syncer-metrics"]["spec"]["template"]["spec"]["containers"][0]
    assert _flag(gauges["args"], "--addr") == "0.0.0.0"
