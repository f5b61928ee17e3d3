"""Prometheus ``/metrics`` in tests: scrape, sum samples, list what is exposed, read a dashboard."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from lab.registry import free_port
from tests.support.processes import START_TIMEOUT, ManagedProcess, WorkerFactory

#: Sample suffixes each metric type adds to its family name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
}
#: PromQL words that are not metric names.
_PROMQL = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def scrape(url: str) -> str:
    """The text of ``url`` (a ``/metrics`` endpoint), which must answer 200."""
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:300])
    return resp.text


def total(text: str, sample: str, **labels: str) -> float:
    """The sum of every ``sample`` whose labels include ``labels``."""
    found = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and labels.items() <= s.labels.items():
                found += s.value
    return found


def exposed(text: str) -> set[str]:
    """Every sample name ``text`` declares, whether or not a sample was seen yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
        names.update(s.name for s in family.samples)
    return names


def dashboard_exprs(path: Path) -> list[str]:
    """Every PromQL ``expr`` of a Grafana dashboard's panels."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, Mapping):
            if isinstance(node.get("expr"), str):
                yield node["expr"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    return list(walk(json.loads(path.read_text())))


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, labels or keywords)."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
    names = set()
    for match in _NAME.finditer(bare):
        rest = bare[match.end() :].lstrip()
        word = match.group()
        if (
            rest.startswith("(")
            or word in _PROMQL
            or bare[match.start() - 1 : match.start()] == "$"
        ):
            continue  # a function, a keyword, or a Grafana variable such as $__rate_interval
        names.add(word)
    return names


def metered_workers(workers: WorkerFactory, auth: Path, count: int = 2) -> list[str]:
    """Start ``count`` workers, each serving ``/metrics`` on a port of its own; their URLs."""
    urls = []
    for _ in range(count):
        port = free_port()
        workers(1, auth=auth, concurrency=3, env={"SYNCER_METRICS_PORT": str(port)})
        urls.append(f"http://127.0.0.1:{port}/metrics")
    return urls


class MetricsProcess(ManagedProcess):
    """``syncer metrics`` on a free loopback port."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "syncer", "metrics", "--port", str(self.port)]
        super().__init__("syncer metrics", argv, env, log_path)

    @property
    def url(self) -> str:
        """The ``/metrics`` URL."""
        return f"http://127.0.0.1:{self.port}/metrics"

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until ``/metrics`` answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise AssertionError(f"syncer metrics exited:\n{self.log_tail()}")
            try:
                if requests.get(self.url, timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"syncer metrics not ready after {timeout}s:\n{self.log_tail()}")
