"""``syncer webhook`` in compose and Kubernetes: opt-in, loopback, its secret from a Secret."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _compose_config() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "FLOWER_"))}
    env.update(FLOWER_BASIC_AUTH="admin:s3cret", SYNCER_WEBHOOK_SECRET="x" * 24)
    result = subprocess.run(
        [require_binary("docker-compose"), "-f", str(ROOT / "docker-compose.yml")]
        + ["--profile", "webhook", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = yaml.safe_load(result.stdout)
    return doc


def test_compose_runs_the_webhook_on_loopback_only_when_asked() -> None:
    hook = _compose_config()["services"]["webhook"]
    assert hook["profiles"] == ["webhook"]
    assert hook["command"][:2] == ["webhook", "/config/images.yaml"]
    assert hook["environment"]["SYNCER_WEBHOOK_SECRET"] == "x" * 24
    assert [str(p).split("/")[0] for p in hook["ports"]] == ["127.0.0.1:8088:8088"]


def test_k8s_webhook_reads_its_secret_and_the_rules_and_serves_its_service() -> None:
    docs = list(yaml.safe_load_all((K8S / "webhook.yaml").read_text()))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    svc = next(d for d in docs if d["kind"] == "Service")
    pod = dep["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["SYNCER_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "syncer-webhook", "key": "secret"}
    rules = next(v for v in pod["volumes"] if v["name"] == "rules")["configMap"]["name"]
    assert rules == "syncer-images"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["port"] == container["ports"][0]["containerPort"] == 8088
