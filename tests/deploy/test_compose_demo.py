"""The compose ``demo`` profile: seeded registries, an images file, and one plan to run.

Docker does not run on the test machines, so ``docker-compose config``
checks the profile as ``README`` runs it (``--env-file deploy/demo.env
--profile demo``), and the pieces the containers would run are run here on
loopback instead: ``python -m lab.seed`` (the ``demo-seed`` service) fills a
real registry, and ``syncer sync`` copies ``deploy/demo-images.yaml`` with
the workers' ``deploy/demo-auth.yaml``, their hosts pointed at these
registries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.seed import demo_image_set
from syncer.config.files import load_auth, load_config
from tests.support.binaries import require_binary
from tests.support.registries import LabRegistry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture
def demo() -> dict[str, Any]:
    """``docker-compose --env-file deploy/demo.env --profile demo config``, parsed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "FLOWER_"))}
    result = subprocess.run(
        [
            require_binary("docker-compose"),
            "--env-file",
            "deploy/demo.env",
            "--profile",
            "demo",
            "config",
        ],  # fmt: skip
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


def test_the_demo_profile_seeds_its_source_and_hands_the_workers_its_auth(
    demo: dict[str, Any],
) -> None:
    services = demo["services"]
    for name in ("registry-src", "registry-dst", "demo-seed"):
        assert services[name]["profiles"] == ["demo"], name
    seed = services["demo-seed"]
    assert seed["entrypoint"] == ["python", "-m", "lab.seed", "http://registry-src:5000"]
    mounts = {v.split(":")[1]: Path(v.split(":")[0]) for v in seed["volumes"]}
    assert mounts[seed["working_dir"] + "/lab"] == ROOT / "lab"
    assert seed["depends_on"] == {"registry-src": {"condition": "service_started"}}
    for name in ("worker", "cli"):
        auth = next(v for v in services[name]["volumes"] if v.endswith(":/etc/syncer/auth.yaml:ro"))
        assert Path(auth.split(":")[0]) == DEPLOY / "demo-auth.yaml", name
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "demo:demo"
    # `cli plan /config/demo-images.yaml` reads the file from deploy/.
    assert any(v.startswith(f"{DEPLOY}:/config") for v in services["cli"]["volumes"])


def test_the_demo_rules_name_only_what_the_seed_pushes() -> None:
    repos = set(demo_image_set(1).repos)
    config = load_config(DEPLOY / "demo-images.yaml", environ={})
    auth = load_auth(DEPLOY / "demo-auth.yaml", environ={})
    for rule in config.rules:
        assert rule.source.registry == "registry-src:5000" and rule.source.path in repos, rule.key
        assert {d.repo.registry for d in rule.destinations} == {"registry-dst:5000"}, rule.key
    assert all(auth[host].insecure for host in ("registry-src:5000", "registry-dst:5000"))


@pytest.mark.integration
def test_the_seeded_demo_mirrors_with_its_own_files(
    source: LabRegistry, dest: LabRegistry, tmp_path: Path
) -> None:
    seeded = subprocess.run(
        [sys.executable, "-m", "lab.seed", source.url, "--large-layer-mib", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    hosts = {"registry-src:5000": source.host, "registry-dst:5000": dest.host}

    def local(name: str) -> Path:
        text = (DEPLOY / name).read_text()
        for compose_host, here in hosts.items():
            text = text.replace(compose_host, here)
        path = tmp_path / name
        path.write_text(text)
        return path

    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncer",
            "sync",
            "--auth",
            str(local("demo-auth.yaml")),
            "--images",
            str(local("demo-images.yaml")),
            "--cache",
            "none",
        ],  # fmt: skip
        cwd=ROOT,
        env={**env, "DOCKER_CONFIG": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "images: 18 synced, 0 skipped, 0 failed (of 18)" in run.stdout, run.stdout
