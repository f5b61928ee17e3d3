"""Every Kubernetes pod can read the Secrets it mounts, as the user it runs as.

A Secret volume's files belong to root, with ``defaultMode`` bits; a pod
that runs as a non-root user reads them through ``fsGroup`` (which makes
them group-owned by that group) or through world-readable bits. A worker
that cannot read its auth file fails every task, so check it here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
#: Kubernetes' default mode for Secret volume files.
DEFAULT_MODE = 0o644


def _pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            spec = doc.get("spec") or {}
            if doc.get("kind") == "CronJob":
                spec = spec.get("jobTemplate", {}).get("spec", {})
            pod = (spec.get("template") or {}).get("spec")
            if pod:
                yield f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", pod


def readable(pod: dict[str, Any], container: dict[str, Any], mode: int) -> bool:
    """Whether ``container`` can read a Secret file of ``mode`` in ``pod``."""
    ctx = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    if ctx.get("runAsUser", 0) == 0:
        return True
    if mode & 0o004:
        return True
    return "fsGroup" in (pod.get("securityContext") or {}) and bool(mode & 0o040)


def test_the_permission_rule_itself() -> None:
    pod = {"securityContext": {"runAsUser": 10001}}
    assert not readable(pod, {}, 0o400)
    assert not readable(pod, {}, 0o440)
    assert readable({"securityContext": {"runAsUser": 10001, "fsGroup": 10001}}, {}, 0o440)
    assert readable(pod, {}, 0o644)


SPECS = list(_pod_specs())


def test_the_manifests_have_pods() -> None:
    assert any("worker" in name for name, _ in SPECS), [name for name, _ in SPECS]


@pytest.mark.parametrize(("name", "pod"), SPECS, ids=[name for name, _ in SPECS])
def test_every_mounted_secret_is_readable(name: str, pod: dict[str, Any]) -> None:
    secrets = {
        v["name"]: v["secret"].get("defaultMode", DEFAULT_MODE)
        for v in pod.get("volumes") or []
        if "secret" in v
    }
    for container in pod["containers"]:
        for mount in container.get("volumeMounts") or []:
            if mount["name"] in secrets:
                mode = secrets[mount["name"]]
                assert readable(pod, container, mode), (
                    f"{name}: {container['name']} cannot read Secret volume {mount['name']} "
                    f"(mode {mode:o})"
                )
