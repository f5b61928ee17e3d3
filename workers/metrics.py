"""A worker's Prometheus metrics: ``syncer worker --metrics-port N`` serves ``/metrics``.

A worker bootstep installs :class:`PrometheusRecorder` as the process's
:mod:`syncer.metrics` recorder and starts prometheus_client's HTTP server on
``$SYNCER_METRICS_PORT`` (bound to ``$SYNCER_METRICS_ADDR``, loopback unless
set). Without the port nothing is served and nothing is counted. Task latency
comes from Celery's ``task_prerun``/``task_postrun`` signals.

Counters are per worker process and start at zero; sum them across workers
(``sum by (...)``) for the fleet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from celery import bootsteps
from celery.signals import task_postrun, task_prerun
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _serve

from syncer import defaults, metrics

log = logging.getLogger(__name__)


#: Seconds of streamed bytes a worker's current throughput is averaged over.
THROUGHPUT_WINDOW = 10.0
#: Task latency buckets, in seconds: from a HEAD-only skip to a multi-GiB layer.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)


class _Window:
    """Bytes streamed over the last ``THROUGHPUT_WINDOW`` seconds, in one-second bins."""

    def __init__(self, window: float = THROUGHPUT_WINDOW) -> None:
        self._window = window
        self._bins: deque[list[float]] = deque()
        self._lock = threading.Lock()

    def add(self, n: int, now: float | None = None) -> None:
        """Count ``n`` bytes at ``now``."""
        second = float(int(time.monotonic() if now is None else now))
        with self._lock:
            if self._bins and self._bins[-1][0] == second:
                self._bins[-1][1] += n
            else:
                self._bins.append([second, float(n)])
            self._trim(second)

    def rate(self, now: float | None = None) -> float:
        """Bytes per second over the window (taken-back bytes count: they did go out)."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            self._trim(moment)
            return sum(n for _, n in self._bins) / self._window

    def _trim(self, now: float) -> None:
        while self._bins and self._bins[0][0] <= now - self._window:
            self._bins.popleft()


class PrometheusRecorder:
    """A :class:`syncer.metrics.Recorder` that keeps prometheus_client metrics."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        route = ("source", "destination")
        self.bytes = Counter(
            "syncer_bytes_copied", "Blob bytes uploaded to a destination", route, registry=registry
        )
        self.blobs = Counter(
            "syncer_blobs",
            "Blobs made present in a destination, by outcome (copied, mounted, exists)",
            [*route, "outcome"],
            registry=registry,
        )
        self.images = Counter(
            "syncer_images",
            "Images settled, by result (synced, unchanged, skipped, failed) and failure code",
            ["result", "code"],
            registry=registry,
        )
        self.throttled = Counter(
            "syncer_rate_limited", "429 answers, by registry", ["registry"], registry=registry
        )
        self.backoffs = Counter(
            "syncer_backoffs",
            "Waits before talking to a registry again, by reason (throttle, retry)",
            ["registry", "reason"],
            registry=registry,
        )
        self.resumes = Counter(
            "syncer_upload_resumes", "Chunked uploads resumed", ["registry"], registry=registry
        )
        self.in_flight = Gauge(
            "syncer_transfers_in_flight", "Blobs being mounted or streamed now", registry=registry
        )
        self.window = _Window()
        throughput = Gauge(
            "syncer_transfer_throughput_bytes_per_second",
            f"Bytes streamed per second over the last {THROUGHPUT_WINDOW:.0f}s",
            registry=registry,
        )
        throughput.set_function(self.window.rate)
        self.latency = Histogram(
            "syncer_task_duration_seconds",
            "Task run time, by task name",
            ["task"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def bytes_copied(self, source: str, dest: str, n: int) -> None:
        """Count delivered bytes."""
        if n > 0:
            self.bytes.labels(source, dest).inc(n)

    def streamed(self, n: int) -> None:
        """Feed the throughput window."""
        if n > 0:
            self.window.add(n)

    def blob(self, source: str, dest: str, outcome: str) -> None:
        """Count a blob by outcome."""
        self.blobs.labels(source, dest, outcome).inc()

    def image(self, result: str, code: str) -> None:
        """Count a settled image."""
        self.images.labels(result, code).inc()

    def rate_limited(self, registry: str) -> None:
        """Count a 429."""
        self.throttled.labels(registry).inc()

    def backoff(self, registry: str, reason: str) -> None:
        """Count a backoff."""
        self.backoffs.labels(registry, reason).inc()

    def upload_resumed(self, registry: str) -> None:
        """Count a resumed upload."""
        self.resumes.labels(registry).inc()

    def transfer(self) -> AbstractContextManager[None]:
        """Count a transfer in flight while the context is held."""
        return _held(self.in_flight)

    def task_seconds(self, task: str, seconds: float) -> None:
        """Observe one task's run time."""
        self.latency.labels(task).observe(seconds)


@contextmanager
def _held(gauge: Gauge) -> Iterator[None]:
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


_started: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


def _task_started(task_id: str = "", task: Any = None, **_: Any) -> None:
    if isinstance(metrics.recorder(), PrometheusRecorder) and task is not None:
        with _lock:
            _started[task_id] = (str(task.name), time.monotonic())


def _task_ended(task_id: str = "", **_: Any) -> None:
    with _lock:
        begun = _started.pop(task_id, None)
    current = metrics.recorder()
    if begun is not None and isinstance(current, PrometheusRecorder):
        name, at = begun
        current.task_seconds(name, time.monotonic() - at)


task_prerun.connect(_task_started, weak=False)
task_postrun.connect(_task_ended, weak=False)


class MetricsStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker bootstep: count with Prometheus and serve ``/metrics`` when a port is set."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._server: Any = None

    def start(self, w: Any) -> None:
        """Called by Celery as the worker starts."""
        where = defaults.metrics_listen()
        if where is None or self._server is not None:
            return
        if not isinstance(metrics.recorder(), PrometheusRecorder):
            metrics.install(PrometheusRecorder())
        addr, port = where
        try:
            self._server, _ = _serve(port, addr=addr)
        except OSError as exc:
            # Tasks matter more than their metrics: keep working, say why loudly.
            log.error("cannot serve metrics on %s:%d: %s", addr, port, exc)
            return
        log.info("serving Prometheus metrics on http://%s:%d/metrics", addr, port)

    def shutdown(self, w: Any) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
