"""Read ``deploy/k8s``: manifests as written, as ``kubectl kustomize`` renders them, their pods.

The tests in ``tests/deploy`` check rules on these documents; this module
only finds things. :func:`rendered` runs the real ``kubectl kustomize``
(offline: it reads the directory only) and skips, or fails in CI, without it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
#: The image name every syncer container carries before kustomize's ``images:`` rewrites it.
IMAGE = "syncer"

Doc = dict[str, Any]


def manifests() -> list[tuple[str, Doc]]:
    """``(file:Kind/name, document)`` for every manifest under deploy/k8s but the kustomization."""
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path == KUSTOMIZATION:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                name = f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}"
                found.append((name, doc))
    return found


def kustomization() -> Doc:
    """deploy/k8s/kustomization.yaml."""
    doc: Doc = yaml.safe_load(KUSTOMIZATION.read_text())
    return doc


def rendered() -> list[Doc]:
    """What ``kubectl kustomize deploy/k8s`` prints, one dict per document."""
    kubectl = require_binary("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict)]


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    """The documents of ``kind``, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@dataclass(frozen=True)
class Pod:
    """The pod template of a workload: where it comes from, its labels and its spec."""

    name: str
    kind: str
    labels: dict[str, str]
    spec: Doc

    @property
    def containers(self) -> list[Doc]:
        """Its containers (init containers too)."""
        return [*self.spec.get("initContainers", []), *self.spec["containers"]]

    def security(self, container: Doc) -> Doc:
        """The container's effective securityContext: the pod's, overridden by its own."""
        pod = {k: v for k, v in (self.spec.get("securityContext") or {}).items()}
        return {**pod, **(container.get("securityContext") or {})}


def pod_template(doc: Doc) -> Doc | None:
    """The pod template of a Deployment, Job or CronJob (or None for other kinds)."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: Doc | None = spec.get("template")
    return template


def pods(docs: list[tuple[str, Doc]]) -> Iterator[Pod]:
    """Every pod template among ``docs``."""
    for name, doc in docs:
        template = pod_template(doc)
        if template is not None:
            yield Pod(name, doc["kind"], template["metadata"]["labels"], template["spec"])


def env(container: Doc) -> dict[str, Doc]:
    """The container's ``env`` entries, by name."""
    return {e["name"]: e for e in container.get("env") or []}
