"""Every Kubernetes manifest validates, strictly, against the API schema, as written and rendered.

``kubernetes-validate`` (a dev dependency) carries the OpenAPI schemas of
each Kubernetes release, so this runs offline; an unknown field (a typo such
as ``fsGrup``) fails it. The kustomization itself has no API schema: the real
``kubectl kustomize`` renders it (offline), and what it prints is validated too.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.k8s import by_kind, manifests, rendered

kubernetes_validate = pytest.importorskip("kubernetes_validate")

#: The release the schemas are checked against; any current one would do.
VERSION = "1.30.0"

DOCS = manifests()


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_manifest_matches_the_api_schema(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_a_misspelt_field_is_caught() -> None:
    worker = next(d for n, d in DOCS if n.startswith("worker.yaml:Deployment"))
    broken = yaml.safe_load(yaml.safe_dump(worker))
    broken["spec"]["template"]["spec"]["securityContext"]["fsGrup"] = 10001
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_kustomize_renders_every_manifest_and_each_matches_the_schema() -> None:
    docs = rendered()
    assert {(d["kind"], d["metadata"]["name"]) for d in docs} == {
        (d["kind"], d["metadata"]["name"]) for _, d in DOCS
    }
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)
    assert by_kind(docs, "Deployment")["syncer-worker"]["spec"]["replicas"] >= 1
