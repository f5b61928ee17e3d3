"""What a user gets from a plain ``pip install .``: every module imports, a worker runs a plan.

The wheel is built from the files ``deploy/Dockerfile`` copies and installed
with no extras into a fresh venv (see :mod:`tests.support.venv`), so neither
the dev extras nor the source tree can stand in for a runtime dependency that
pyproject.toml fails to declare. The test process seeds the source registry
from the checkout; only ``syncer`` itself runs from the venv, as a user runs it.
Run alone with ``scripts/test -m install``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.images import ImageSet, build_image_set, push_image_set
from tests.support.binaries import require_binary
from tests.support.dockerfile import ROOT
from tests.support.processes import ManagedProcess, RedisProcess, running
from tests.support.registries import RegistryFactory
from tests.support.runner import run_syncer
from tests.support.venv import CleanInstall, build_wheel, source_modules, top_level_names
from tests.support.verify import RegistryReader, verify_image, writes

pytestmark = [pytest.mark.install, pytest.mark.timeout(600)]

#: Seconds the worker gets to log ``ready.`` and the plan gets to finish.
WORKER_START = 60.0
PLAN_DEADLINE = 120.0
#: What ``syncer worker`` logs when its Celery worker died and it starts another.
CRASHED = r"worker exited with status \d+; restarting"
#: The planner holds one small plan: a bound well above its ~60 MiB, well below a leak.
PLAN_PEAK_RSS_MIB = 200.0

#: Runs in the venv with -I: imports every module and says where the packages came from.
IMPORT_ALL = """
import importlib, importlib.util, json, pkgutil
found, failed = [], {}
def record(name):
    failed.setdefault(name, "failed while walking the package")
for top in ("syncer", "workers"):
    found.append(top)
    package = importlib.import_module(top)
    for info in pkgutil.walk_packages(package.__path__, top + ".", onerror=record):
        if info.name.endswith(".__main__"):
            continue
        found.append(info.name)
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed[info.name] = type(exc).__name__ + ": " + str(exc)
print(json.dumps({
    "found": found,
    "failed": failed,
    "files": {top: importlib.import_module(top).__file__ for top in ("syncer", "workers")},
    "dev": [n for n in ("pytest", "mypy", "ruff") if importlib.util.find_spec(n)],
}))
"""


def _run(venv: CleanInstall, *argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        env=venv.env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_module_imports_from_the_wheel_alone(
    clean_install: CleanInstall, tmp_path: Path
) -> None:
    run = _run(clean_install, clean_install.python, "-I", "-c", IMPORT_ALL, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    # kombu's Redis transport (syncer.fleet.broker, workers.tasks) needs packaging.
    assert report["failed"] == {}
    assert set(report["found"]) == source_modules(), "the wheel ships other modules"
    site = clean_install.venv / "lib"
    assert all(Path(f).is_relative_to(site) for f in report["files"].values()), report["files"]
    assert report["dev"] == [], "dev extras in a venv that was given none"
    check = _run(clean_install, clean_install.python, "-m", "pip", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    for argv in ([clean_install.syncer], [clean_install.python, "-m", "syncer"]):
        version = _run(clean_install, *argv, "--version", cwd=tmp_path)
        assert version.returncode == 0 and re.fullmatch(r"syncer \S+\n", version.stdout), version


def test_the_wheel_ships_syncer_and_workers_but_no_lab_tests_or_bench(
    clean_install: CleanInstall, tmp_path: Path
) -> None:
    # The clean install's wheel is built from the Dockerfile's files alone; this one is
    # built from the whole checkout, so only pyproject.toml's package list keeps out the
    # lab, tests and bench packages that sit beside syncer/.
    skip = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "dist")
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=skip)
    assert {"lab", "tests", "bench"} <= {p.name for p in checkout.iterdir() if p.is_dir()}
    wheel = build_wheel(checkout, tmp_path / "dist")
    assert top_level_names(wheel) == {"syncer", "workers"}
    assert top_level_names(clean_install.wheel) == {"syncer", "workers"}


def _seed_one(source_url: str) -> tuple[str, str, str]:
    """Push one small Docker v2 image from the checkout's lab; return (repo, tag, digest)."""
    image = build_image_set(23, repos=1, tags_per_repo=1, large_layer_size=0).get("lab/app0", "v1")
    push_image_set(source_url, ImageSet((image,)))
    return image.repo, image.tag, image.digest


def _config(home: Path, source: str, dest: str, ref: str) -> tuple[Path, Path]:
    """An auth file marking both loopback registries insecure, and one rule copying ``ref``."""
    auth, images = home / "auth.json", home / "images.json"
    auth.write_text(json.dumps({host: {"insecure": True} for host in (source, dest)}))
    images.write_text(json.dumps({f"{source}/{ref}": f"{dest}/mirror/app"}))
    return auth, images


def _fleet_env(venv: CleanInstall, redis_url: str, auth: Path, home: Path) -> dict[str, str]:
    """The venv's environment with this Redis and auth file, and no user docker config."""
    (home / "docker").mkdir(exist_ok=True)
    return dict(
        venv.env,
        SYNCER_REDIS_URL=redis_url,
        SYNCER_AUTH_FILE=str(auth),
        DOCKER_CONFIG=str(home / "docker"),
        XDG_CACHE_HOME=str(home / "cache"),
    )


def test_worker_and_plan_from_the_wheel_copy_an_image(
    clean_install: CleanInstall, registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    source, dest = registry_factory(), registry_factory()
    repo, tag, digest = _seed_one(source.url)
    seeded_writes = len(writes(source))
    auth, images = _config(tmp_path, source.host, dest.host, f"{repo}:{tag}")
    syncer = str(clean_install.syncer)
    with running(RedisProcess(require_binary("redis-server"), tmp_path)) as redis:
        env = _fleet_env(clean_install, redis.url(1), auth, tmp_path)
        node = "clean@install"
        argv = [syncer, "worker", "-n", node, "-p", "2", "--loglevel", "INFO"]
        worker = ManagedProcess("worker", argv, env, tmp_path / "worker.log", cwd=tmp_path)
        worker.start()
        try:
            # A worker that cannot import its tasks crash-loops: stop at the first restart.
            worker.wait_for_log(rf"{re.escape(node)} ready\.|{CRASHED}", timeout=WORKER_START)
            crashed = re.search(CRASHED, worker.log_text())
            assert not crashed, f"syncer worker crash-loops:\n{worker.log_tail()}"
            plan = run_syncer(
                ["plan", "--images", str(images), "--wait", "--output", "json"],
                env=env,
                deadline=PLAN_DEADLINE,
                program=[syncer],
                cwd=tmp_path,
            )
            alive = worker.running
        finally:
            worker.stop()
        log = worker.log_text()

    assert plan.code == 0 and not plan.killed, plan
    report = json.loads(plan.out)
    assert report["state"] == "finished" and report["failed"] == [], report
    with RegistryReader(dest.url) as reader:
        verify_image(reader, "mirror/app", tag, digest)
    assert len(writes(source)) == seeded_writes, "the sync wrote to its source"
    # One worker process the whole time: it neither crashed nor was restarted.
    assert alive and worker.proc is not None and worker.proc.returncode == 0, log
    assert "Traceback" not in log and not re.search(CRASHED, log), log
    assert redis.password not in plan.text + log
    assert plan.peak_rss_mib < PLAN_PEAK_RSS_MIB, plan.peak_rss_mib
