"""The README's deployment paths point at files that exist and load.

``docker compose run --rm cli plan /config/images.yaml`` mounts ``deploy/``
at ``/config``; the Kubernetes planner (Jobs made from the ``syncer-plan``
CronJob) mounts the ConfigMap's ``images.yaml`` at the same place. Both
files must load as the planner loads a positional config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from syncer.config.files import load_config

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((K8S / name).read_text())
    return doc


def test_the_compose_example_images_file_loads_as_a_positional_config() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "plan /config/images.yaml" in compose and "./deploy}:/config" in compose
    config = load_config(ROOT / "deploy" / "images.yaml", environ={})
    assert [r.kind for r in config.rules] == ["all", "tags", "regex"]
    assert not config.auth


def test_the_k8s_planner_runs_the_configmap_rules(tmp_path: Path) -> None:
    cronjob = _doc("planner.yaml")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:2] == ["plan", "/config/images.yaml"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/config")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    configmaps = {
        d["metadata"]["name"]: d for d in yaml.safe_load_all((K8S / "configmap.yaml").read_text())
    }
    configmap = configmaps[volume["configMap"]["name"]]
    key = volume["configMap"]["items"][0]
    assert key["path"] == "images.yaml"
    rules = tmp_path / "images.yaml"
    rules.write_text(configmap["data"][key["key"]])
    assert load_config(rules, environ={}).rules


def test_flower_shows_task_arguments_everywhere_it_is_deployed() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    flower_k8s = next(
        d
        for d in yaml.safe_load_all((K8S / "flower.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    commands = [
        compose["services"]["flower"]["entrypoint"],
        flower_k8s["spec"]["template"]["spec"]["containers"][0]["command"],
    ]
    for command in commands:
        columns = next(a for a in command if a.startswith("--tasks_columns="))
        assert "kwargs" in columns.split("=", 1)[1].split(","), command
