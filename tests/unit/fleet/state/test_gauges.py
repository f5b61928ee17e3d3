"""Plan gauges: the queue's Redis lists, and the recent plans as bounded series."""

from __future__ import annotations

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from redis.backoff import NoBackoff
from redis.retry import Retry

from lab.registry import free_port
from syncer.fleet.protocol import settings
from syncer.fleet.state import gauges
from syncer.fleet.state.history import PlanSummary
from syncer.fleet.state.plans import COUNTER_FIELDS
from tests.support.scrape import total


def test_the_queue_lists_follow_the_transport_settings() -> None:
    options = settings.celery_config("redis://localhost/0")["broker_transport_options"]
    assert gauges.SEP == options["sep"]
    lists = gauges.queue_lists()
    assert lists[0] == "celery" and len(lists) == len(options["priority_steps"])
    assert "celery:9" in lists


def _summary(plan: str, state: str, **counts: int) -> PlanSummary:
    counters = dict.fromkeys(COUNTER_FIELDS, 0) | counts
    return PlanSummary(plan, "nightly", state, 1000.0, 12.5, counters)


def test_recent_plans_become_gauges_by_state_and_result() -> None:
    plans = [
        _summary("p2", "running", tags_done=1),
        _summary("p1", "finished", tags_done=3, tags_skipped=2, tags_failed=1, bytes_done=500),
    ]

    class Fixed:
        def collect(self) -> list[GaugeMetricFamily]:
            return list(gauges.plan_gauges(plans))

    registry = CollectorRegistry()
    registry.register(Fixed())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()

    assert total(text, "syncer_plans", state="running") == 1
    assert total(text, "syncer_plans", state="cancelled") == 0
    assert total(text, "syncer_plan_images", plan="p1", result="unchanged") == 2
    assert total(text, "syncer_plan_images", plan="p1", result="failed") == 1
    assert total(text, "syncer_plan_bytes", plan="p1", schedule="nightly") == 500
    assert total(text, "syncer_plan_running", plan="p2") == 1
    assert total(text, "syncer_plan_duration_seconds", plan="p2") == 12.5


def test_a_scrape_without_redis_says_so() -> None:
    client = redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    families = list(gauges.PlanCollector(client).collect())
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [("syncer_redis_up", [0])]
