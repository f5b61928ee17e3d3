"""Every Kubernetes manifest validates, strictly, against the API schema.

``kubernetes-validate`` (a dev dependency) carries the OpenAPI schemas of
each Kubernetes release, so this runs offline; an unknown field (a typo such
as ``fsGrup``) fails it. The kustomization itself has no API schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
#: The release the schemas are checked against; any current one would do.
VERSION = "1.30.0"


def _docs() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") != "Kustomization":
                found.append((f"{path.relative_to(K8S)}:{doc['kind']}", doc))
    return found


DOCS = _docs()


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_manifest_matches_the_api_schema(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_a_misspelt_field_is_caught() -> None:
    worker = next(d for n, d in DOCS if n.startswith("worker.yaml:Deployment"))
    broken = yaml.safe_load(yaml.safe_dump(worker))
    broken["spec"]["template"]["spec"]["securityContext"]["fsGrup"] = 10001
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)
