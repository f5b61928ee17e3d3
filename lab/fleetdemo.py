"""``scripts/demo --fleet``: Redis, workers and Flower on loopback, and ``syncer plan --wait``.

The fleet runs beside the demo's registries; :mod:`lab.demo` seeds them and
writes the config. The plan runs twice (a cold copy, then a no-op), and the
workers' own ``/metrics`` are summed at the end: they count what the plan's
summary counted. Every process is entered on the caller's ``ExitStack``, so
it stops with the demo, however the demo ends.
"""

from __future__ import annotations

import os
import shlex
import sys
import urllib.request
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from lab import fleet
from lab.demo import banner, syncer
from lab.registry import free_port
from syncer.config.files import load_config
from syncer.engine.progress import human_bytes

#: Tasks one demo worker runs at once.
WORKER_PROC = 4


def _environment(work: Path, redis_url: str, auth: Path) -> dict[str, str]:
    """The fleet's environment: this Redis, the demo's auth file, no docker login of the user."""
    (work / "docker-config").mkdir(exist_ok=True)
    return {
        **os.environ,
        "SYNCER_REDIS_URL": redis_url,
        "SYNCER_AUTH_FILE": str(auth),
        "DOCKER_CONFIG": str(work / "docker-config"),
        "XDG_CACHE_HOME": str(work / "cache"),
        "PYTHONUNBUFFERED": "1",
    }


def _worker_auth(work: Path, config: Path) -> Path:
    """The workers' own auth file: the config's ``auth`` section (credentials stay with them)."""
    auth = load_config(config, environ={}).auth
    path = work / "worker-auth.yaml"
    path.write_text(yaml.safe_dump({key: {"insecure": e.insecure} for key, e in auth.items()}))
    return path


def scrape(url: str) -> dict[str, float]:
    """``sample{labels}`` -> value of one ``/metrics`` page."""
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - loopback, our worker
        text = reply.read(4 << 20).decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def _sum(pages: Iterable[dict[str, float]], name: str, **labels: str) -> float:
    """A metric summed over workers and every label set that has ``labels``."""
    total = 0.0
    for page in pages:
        for key, value in page.items():
            sample, _, rest = key.partition("{")
            have = dict(p.split("=", 1) for p in rest.rstrip("}").split(",") if p)
            if sample == name and labels.items() <= have.items():
                total += value
    return total


def metrics_summary(urls: list[str]) -> str:
    """What the workers counted since they started, summed over all of them."""
    pages = [scrape(u) for u in urls]
    images = {r: _sum(pages, "syncer_images_total", result=r) for r in ("synced", "unchanged")}
    blobs = {o: _sum(pages, "syncer_blobs_total", outcome=o) for o in ("copied", "mounted")}
    moved = _sum(pages, "syncer_bytes_copied_total")
    return (
        f"bytes copied {human_bytes(moved)}; images {images['synced']:.0f} synced, "
        f"{images['unchanged']:.0f} unchanged; blobs {blobs['copied']:.0f} copied, "
        f"{blobs['mounted']:.0f} mounted"
    )


def run(stack: ExitStack, work: Path, config: Path, *, workers: int) -> tuple[int, list[str]]:
    """Start the fleet on ``stack``, plan twice, print the metrics; the exit code and commands."""
    redis, redis_url = fleet.redis(work)
    banner(f"the fleet: redis-server on {redis_url}, {workers} workers, Flower")
    stack.enter_context(redis)
    env = _environment(work, redis_url, _worker_auth(work, config))
    ports = [free_port() for _ in range(workers)]
    for n, port in enumerate(ports, 1):
        worker_env = {**env, "SYNCER_METRICS_PORT": str(port)}
        stack.enter_context(fleet.worker(f"demo{n}@syncer", worker_env, work, proc=WORKER_PROC))
    flower, flower_url, login = fleet.flower(env, work)
    stack.enter_context(flower)
    print(f"Flower: {flower_url} (user:password {login}): every task, its arguments and worker")
    metrics = [f"http://127.0.0.1:{p}/metrics" for p in ports]
    print(f"worker metrics: {', '.join(metrics)}")

    code = syncer(["plan", config.name, "--wait"], work, env)
    if code in (0, 1):
        print("\nthe same plan again: the workers skip unchanged tags with HEAD requests only")
        code = max(code, syncer(["plan", config.name, "--wait"], work, env))
    banner("what the workers counted (their /metrics, summed over the fleet)")
    print(metrics_summary(metrics))
    print(f"Flower, while the demo runs: {flower_url} (user:password {login})")
    prefix = f"SYNCER_REDIS_URL={redis_url} {shlex.quote(str(Path(sys.executable).parent))}/"
    commands = [
        f"{prefix}syncer plans",
        f"{prefix}syncer status PLAN_ID",
        f"cd {work} && {prefix}syncer plan config.yaml --wait",
        f"curl -s {metrics[0]} | grep ^syncer_",
    ]
    return code, commands
