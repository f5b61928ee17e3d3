"""The compose file and Kubernetes manifests are valid and say what the README promises."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = require_binary("docker-compose")
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


@pytest.fixture
def compose_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "FLOWER_"))}
    env["FLOWER_BASIC_AUTH"] = "admin:s3cret"
    return env


@pytest.fixture
def compose(compose_env: dict[str, str]) -> dict[str, Any]:
    result = _compose("--profile", "demo", "config", env=compose_env)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = yaml.safe_load(result.stdout)
    return doc


def test_compose_validates_and_lists_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {"redis", "worker", "flower", "registry-src", "registry-dst"}


def test_redis_persists(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(str(v).split(":")[1] == "/data" for v in redis["volumes"])
    _never_evicts(redis["command"])


def _never_evicts(argv: list[str]) -> None:
    """Redis runs with maxmemory-policy noeviction: evicted keys are lost tasks and plans."""
    at = argv.index("--maxmemory-policy")
    assert argv[at + 1] == "noeviction", argv


def test_k8s_redis_persists_and_never_evicts() -> None:
    [redis] = _by_kind("Deployment")["syncer-redis"]["spec"]["template"]["spec"]["containers"]
    assert "--appendonly" in redis["args"]
    _never_evicts(redis["args"])


def test_worker_is_scalable(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    # --scale needs no fixed container name and no host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["environment"]["SYNCER_REDIS_URL"].startswith("redis://redis:")
    assert worker["environment"]["SYNCER_AUTH_FILE"] == "/etc/syncer/auth.yaml"
    assert any(str(v).endswith("/etc/syncer/auth.yaml:ro") for v in worker["volumes"])


def test_flower_requires_basic_auth(compose: dict[str, Any], compose_env: dict[str, str]) -> None:
    flower = compose["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "admin:s3cret"
    # Published on loopback only: put a TLS proxy in front to expose it.
    assert [str(p).split("/")[0] for p in flower["ports"]] == ["127.0.0.1:5555:5555"]
    without = {k: v for k, v in compose_env.items() if k != "FLOWER_BASIC_AUTH"}
    result = _compose("config", env=without)
    assert result.returncode != 0 and "FLOWER_BASIC_AUTH" in result.stderr


def test_demo_registries_only_in_demo_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["registry-src"]["profiles"] == ["demo"]
    assert services["registry-dst"]["profiles"] == ["demo"]
    assert "profiles" not in services["worker"] and "profiles" not in services["redis"]


def _k8s_docs() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], path
            docs.append(doc)
    return docs


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _k8s_docs() if d["kind"] == kind}


def test_k8s_has_every_component() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _k8s_docs()}
    assert {
        ("Deployment", "syncer-worker"),
        ("Deployment", "syncer-redis"),
        ("Deployment", "syncer-flower"),
        ("Secret", "syncer-auth"),
        ("ConfigMap", "syncer-config"),
        ("Service", "syncer-redis"),
    } <= kinds


def test_k8s_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_k8s_selectors_match_templates_and_services() -> None:
    deployments = _by_kind("Deployment")
    for name, dep in deployments.items():
        selector = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
        for container in dep["spec"]["template"]["spec"]["containers"]:
            assert container["image"], name
    for name, svc in _by_kind("Service").items():
        sel = svc["spec"]["selector"]
        assert any(
            sel.items() <= d["spec"]["template"]["metadata"]["labels"].items()
            for d in deployments.values()
        ), name


def test_k8s_worker_reads_auth_from_secret_and_config_from_configmap() -> None:
    worker = _by_kind("Deployment")["syncer-worker"]["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in worker["volumes"] if "secret" in v}
    assert secrets == {"syncer-auth"} and "syncer-auth" in _by_kind("Secret")
    container = worker["containers"][0]
    refs = {e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e}
    assert refs <= set(_by_kind("ConfigMap"))
    assert all(m.get("readOnly") for m in container["volumeMounts"])
    config = _by_kind("ConfigMap")["syncer-config"]["data"]
    assert config["SYNCER_REDIS_URL"].startswith("redis://syncer-redis:")


def test_k8s_flower_requires_basic_auth() -> None:
    flower = _by_kind("Deployment")["syncer-flower"]["spec"]["template"]["spec"]
    refs = {e["secretRef"]["name"] for e in flower["containers"][0]["envFrom"] if "secretRef" in e}
    assert refs and all("FLOWER_BASIC_AUTH" in _by_kind("Secret")[r]["stringData"] for r in refs)


def test_compose_runs_one_beat_without_credentials(compose: dict[str, Any]) -> None:
    beat = compose["services"]["beat"]
    assert beat["command"] == ["beat"] and "profiles" not in beat
    assert beat["environment"]["SYNCER_REDIS_URL"].startswith("redis://redis:")
    assert "SYNCER_AUTH_FILE" not in beat["environment"] and not beat.get("volumes")


def test_k8s_runs_one_beat_recreated_without_credentials() -> None:
    beat = _by_kind("Deployment")["syncer-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    pod = beat["template"]["spec"]
    assert [c["args"] for c in pod["containers"]] == [["beat"]]
    assert "volumes" not in pod
