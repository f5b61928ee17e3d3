"""The compose file and Kubernetes manifests are valid and say what the README promises."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.binaries import require_binary
from tests.support.k8s import K8S, by_kind, env, kustomization, manifests

ROOT = Path(__file__).resolve().parents[2]


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
    return [doc for _, doc in manifests()]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return by_kind(_k8s_docs(), kind)


def test_k8s_has_every_component() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _k8s_docs()}
    assert {
        ("Deployment", "syncer-worker"),
        ("Deployment", "syncer-redis"),
        ("Deployment", "syncer-flower"),
        ("Deployment", "syncer-beat"),
        ("Deployment", "syncer-metrics"),
        ("CronJob", "syncer-plan"),
        ("ConfigMap", "syncer-config"),
        ("ConfigMap", "syncer-images"),
        ("Service", "syncer-redis"),
        ("NetworkPolicy", "syncer-redis"),
    } <= kinds


def test_k8s_kustomization_lists_every_manifest() -> None:
    files = {str(p.relative_to(K8S)) for p in K8S.rglob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization()["resources"]) == files


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


def test_k8s_worker_reads_auth_from_its_secret_read_only() -> None:
    worker = _by_kind("Deployment")["syncer-worker"]["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in worker["volumes"] if "secret" in v}
    assert set(secrets.values()) == {"syncer-auth"}
    container = worker["containers"][0]
    auth = next(m for m in container["volumeMounts"] if m["name"] in secrets)
    assert auth["readOnly"] and "subPath" not in auth, "a subPath mount is never updated"
    path = env(container)["SYNCER_AUTH_FILE"]["value"]
    assert path.startswith(auth["mountPath"] + "/")


def test_k8s_flower_requires_basic_auth() -> None:
    flower = _by_kind("Deployment")["syncer-flower"]["spec"]["template"]["spec"]
    login = env(flower["containers"][0])["FLOWER_BASIC_AUTH"]
    assert login["valueFrom"]["secretKeyRef"] == {
        "name": "syncer-flower",
        "key": "FLOWER_BASIC_AUTH",
    }


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
    assert not [v for v in pod.get("volumes", []) if "secret" in v]
    assert "SYNCER_AUTH_FILE" not in env(pod["containers"][0])
