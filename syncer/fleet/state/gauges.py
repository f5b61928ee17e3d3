"""Plan-level Prometheus gauges, read from Redis at each scrape (``syncer metrics``).

Workers count what they did (``workers/metrics.py``); this collector says
where the fleet stands: tasks waiting in the broker queue, and the recent
plans (:func:`syncer.fleet.state.history.recent`) with their state and results.
Plans are labelled by id only for the newest
:data:`GAUGE_RECENT_PLANS` plans, so the
series stay bounded. A scrape while Redis is away reports ``syncer_redis_up 0``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import cast

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from syncer.fleet.protocol import settings
from syncer.fleet.state.guard import best_effort
from syncer.fleet.state.history import PlanSummary, recent

#: How many of the newest plans get gauge series of their own (bounded label cardinality).
GAUGE_RECENT_PLANS = 20


#: Celery's default queue. kombu's Redis transport keeps one list per priority
#: step: the queue's own name for step 0, ``{queue}{sep}{step}`` for the others.
QUEUE = "celery"
#: The transport's ``sep`` option (:func:`syncer.fleet.protocol.settings.celery_config`).
SEP = ":"
STATES = ("running", "finished", "cancelled", "lost")


def queue_lists(queue: str = QUEUE) -> list[str]:
    """The Redis lists that hold ``queue``'s waiting tasks, one per priority step."""
    return [queue if step == 0 else f"{queue}{SEP}{step}" for step in settings.PRIORITY_STEPS]


def queue_depth(client: redis.Redis, queue: str = QUEUE) -> int:
    """Tasks waiting in ``queue`` (not those a worker holds unacknowledged)."""
    pipe = client.pipeline()
    for name in queue_lists(queue):
        pipe.llen(name)
    return sum(cast(list[int], pipe.execute()))


class PlanCollector(Collector):
    """Collects the queue depth and the recent plans on every scrape."""

    def __init__(self, client: redis.Redis, limit: int = GAUGE_RECENT_PLANS) -> None:
        self.client, self.limit = client, limit

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges, read now."""
        with best_effort("a scrape without Redis says so in syncer_redis_up") as attempt:
            depth = queue_depth(self.client)
            plans = recent(self.client, self.limit)
        yield GaugeMetricFamily(
            "syncer_redis_up", "Whether this scrape reached Redis", value=0 if attempt.failed else 1
        )
        if attempt.failed:
            return
        yield GaugeMetricFamily(
            "syncer_queue_depth", "Tasks waiting in the broker queue", value=depth
        )
        yield from plan_gauges(plans)


def plan_gauges(plans: list[PlanSummary]) -> Iterator[GaugeMetricFamily]:
    """Gauges of ``plans``: how many in each state, and each one's results."""
    states = GaugeMetricFamily(
        "syncer_plans",
        "Recent plans by state (running, finished, cancelled, lost)",
        labels=["state"],
    )
    count = Counter(p.state for p in plans)
    for state in STATES:
        states.add_metric([state], count[state])
    yield states
    ident = ["plan", "schedule"]
    images = GaugeMetricFamily(
        "syncer_plan_images",
        "A recent plan's images by result (synced, unchanged, failed)",
        labels=[*ident, "result"],
    )
    moved = GaugeMetricFamily("syncer_plan_bytes", "Bytes a recent plan copied", labels=ident)
    took = GaugeMetricFamily(
        "syncer_plan_duration_seconds", "A recent plan's run time so far", labels=ident
    )
    started = GaugeMetricFamily(
        "syncer_plan_started_timestamp_seconds", "When a recent plan started", labels=ident
    )
    running = GaugeMetricFamily(
        "syncer_plan_running", "1 while a recent plan runs, else 0", labels=ident
    )
    for plan in plans:
        row, labels = plan.to_dict(), [plan.plan, plan.schedule]
        for result in ("synced", "unchanged", "failed"):
            images.add_metric([*labels, result], row[result])
        moved.add_metric(labels, row["bytes"])
        took.add_metric(labels, plan.duration)
        started.add_metric(labels, plan.started)
        running.add_metric(labels, int(plan.state == "running"))
    yield from (images, moved, took, started, running)
