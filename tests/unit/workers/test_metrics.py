"""The Prometheus recorder: each method moves its metric, and the exposition parses."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.support.scrape import exposed, total
from workers.metrics import PrometheusRecorder, _Window


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_every_event_lands_in_its_metric_with_its_labels(registry: CollectorRegistry) -> None:
    rec = PrometheusRecorder(registry)
    rec.bytes_copied("src.example", "dst.example:5000", 100)
    rec.bytes_copied("src.example", "dst.example:5000", 0)  # a resent chunk of nothing
    rec.blob("src.example", "dst.example:5000", "copied")
    rec.blob("src.example", "dst.example:5000", "mounted")
    rec.image("failed", "MANIFEST_UNKNOWN")
    rec.image("unchanged", "")
    rec.rate_limited("dst.example:5000")
    rec.backoff("dst.example:5000", "throttle")
    rec.upload_resumed("dst.example:5000")
    rec.task_seconds("syncer.copy_blob", 0.3)
    with rec.transfer():
        assert total(_text(registry), "syncer_transfers_in_flight") == 1

    text = _text(registry)
    route = {"source": "src.example", "destination": "dst.example:5000"}
    assert total(text, "syncer_bytes_copied_total", **route) == 100
    assert total(text, "syncer_blobs_total", outcome="mounted", **route) == 1
    assert total(text, "syncer_blobs_total", **route) == 2
    assert total(text, "syncer_images_total", result="failed", code="MANIFEST_UNKNOWN") == 1
    assert total(text, "syncer_images_total", result="unchanged") == 1
    assert total(text, "syncer_rate_limited_total", registry="dst.example:5000") == 1
    assert total(text, "syncer_backoffs_total", reason="throttle") == 1
    assert total(text, "syncer_upload_resumes_total") == 1
    assert total(text, "syncer_task_duration_seconds_count", task="syncer.copy_blob") == 1
    assert total(text, "syncer_transfers_in_flight") == 0


def test_metrics_are_declared_before_anything_happened(registry: CollectorRegistry) -> None:
    PrometheusRecorder(registry)
    names = exposed(_text(registry))
    assert {"syncer_rate_limited_total", "syncer_task_duration_seconds_bucket"} <= names
    assert "syncer_transfer_throughput_bytes_per_second" in names


def test_throughput_is_the_bytes_of_the_last_window_per_second() -> None:
    window = _Window(10.0)
    window.add(1000, now=100.0)
    window.add(500, now=105.5)
    window.add(-300, now=105.6)  # never fed negatives by the recorder; the sum is what it is
    assert window.rate(now=106.0) == pytest.approx(120.0)
    assert window.rate(now=110.5) == pytest.approx(20.0)  # the first second aged out
    assert window.rate(now=200.0) == 0.0
