"""Schedules against a real ``redis-server``: what is stored, and when a start plans or skips.

The beat's entries are in ``test_beat.py``, the beat process in
``tests/fleet/test_beat.py``; here a start plans into a recording dispatcher,
and a plan is made to finish by recording its images, as the workers would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from syncer.config.ruleparse import parse_rule
from syncer.engine.jobs import ImageResult
from syncer.errors import ConfigError
from syncer.fleet import schedules
from syncer.fleet.protocol import keys
from syncer.fleet.schedules import Schedule, ScheduleStore, start
from syncer.fleet.state.plans import PlanStore
from syncer.oci.manifest import PlatformFilter
from tests.support.dispatch import Recorder

pytestmark = pytest.mark.integration


def _schedule(name: str = "nightly", **fields: Any) -> Schedule:
    rule = parse_rule("src.example/lab/a:v1,v2", "dst.example/mirror/a", environ={})
    return Schedule(name, (rule,), **{"every": 5, "source": "images.yaml", **fields})


def _finish(client: redis.Redis, plan: str) -> None:
    """Settle every tag of ``plan`` as the workers would."""
    store = PlanStore(client)
    for tag in ("v1", "v2"):
        source, dest = f"src.example/lab/a:{tag}", f"dst.example/mirror/a:{tag}"
        store.record(plan, ImageResult(source, dest, "synced", rule="r"))
    assert store.finished(plan)


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5), ("15m", 900), ("2h", 7200), ("1d", 86400), ("90", 90)]
)
def test_every_takes_whole_units(text: str, seconds: int) -> None:
    assert schedules.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["0s", "5x", "1.5m", "", "-3s", "m"])
def test_a_bad_every_names_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--every "):
        schedules.parse_every(text)


def test_every_is_described_in_its_largest_whole_unit() -> None:
    assert [schedules.describe_every(s) for s in (5, 900, 7200, 86400, 90)] == [
        "5s",
        "15m",
        "2h",
        "1d",
        "90s",
    ]


@pytest.mark.parametrize("name", ["Nightly", "-x", "", "a:b", "a/b", "x" * 64])
def test_names_that_cannot_be_keys_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="schedule name"):
        schedules.check_name(name)


def test_a_schedule_round_trips_without_credentials(redis_client: redis.Redis) -> None:
    original = _schedule(
        limits={"dst.example": 3}, force=True, platforms=PlatformFilter(("linux",), ("arm64",))
    )
    ScheduleStore(redis_client).add(original)
    assert ScheduleStore(redis_client).get("nightly") == original
    stored = json.loads(redis_client.hget(keys.schedules(), "nightly") or b"{}")
    assert set(stored) == {
        "name", "rules", "every", "cron", "limits", "force", "platforms", "ttl", "source", "paused"
    }  # fmt: skip


def test_a_taken_name_is_refused_and_the_first_kept(redis_client: redis.Redis) -> None:
    store = ScheduleStore(redis_client)
    store.add(_schedule())
    with pytest.raises(ConfigError, match="exists"):
        store.add(_schedule(every=60))
    assert store.get("nightly").every == 5


def test_start_plans_then_skips_while_the_plan_runs(redis_client: redis.Redis) -> None:
    ScheduleStore(redis_client).add(_schedule())
    sent = Recorder()
    first = start(redis_client, "nightly", sent)
    assert first.plan and first.word == "started"
    assert sent.names == ["syncer.sync_tags"]
    assert PlanStore(redis_client).meta(first.plan)["schedule"] == "nightly"

    second = start(redis_client, "nightly", sent)
    assert (second.plan, second.word) == ("", "skipped")
    assert first.plan in second.skipped and len(sent.sent) == 1
    runs = ScheduleStore(redis_client).runs("nightly")
    assert (runs.runs, runs.skips, runs.last_plan) == (1, 1, first.plan)

    _finish(redis_client, first.plan)
    third = start(redis_client, "nightly", sent)
    assert third.plan and third.plan != first.plan
    assert ScheduleStore(redis_client).runs("nightly").runs == 2


def test_a_cancelled_or_expired_last_plan_does_not_block(redis_client: redis.Redis) -> None:
    ScheduleStore(redis_client).add(_schedule())
    first = start(redis_client, "nightly", Recorder()).plan
    PlanStore(redis_client).cancel(first)
    second = start(redis_client, "nightly", Recorder()).plan
    assert second and second != first
    for key in keys.plan_keys(second):
        redis_client.delete(key)
    assert start(redis_client, "nightly", Recorder()).plan


def test_a_lost_last_plan_is_planned_again_and_counted_lost(redis_client: redis.Redis) -> None:
    store = ScheduleStore(redis_client)
    store.add(_schedule())
    first = start(redis_client, "nightly", Recorder()).plan
    redis_client.delete(keys.plan_meta(first))  # evicted: its counters remain, it still "runs"

    second = start(redis_client, "nightly", Recorder()).plan
    again = start(redis_client, "nightly", Recorder())  # the second plan runs: a skip

    assert second and second != first and again.skipped
    runs = store.runs("nightly")
    assert (runs.lost, runs.last_lost, runs.last_plan) == (1, first, second)
    assert "evicted" in runs.lost_reason
    # Counters that went back below the planned images: lost too, and cancelled.
    redis_client.hset(keys.plan_counters(second), "tags_total", 1)
    third = start(redis_client, "nightly", Recorder()).plan
    assert third and store.runs("nightly").lost == 2
    assert PlanStore(redis_client).cancelled(second)


def test_a_start_under_way_makes_another_skip(redis_client: redis.Redis) -> None:
    ScheduleStore(redis_client).add(_schedule())
    redis_client.set(keys.schedule_starting("nightly"), "someone", ex=60)
    outcome = start(redis_client, "nightly", Recorder())
    assert outcome.word == "skipped" and "under way" in outcome.skipped
    # The other start's hold is not ours to release.
    assert redis_client.get(keys.schedule_starting("nightly")) == b"someone"


def test_paused_schedules_plan_only_when_asked(redis_client: redis.Redis) -> None:
    store = ScheduleStore(redis_client)
    store.add(_schedule())
    store.set_paused("nightly", True)
    sent = Recorder()
    assert start(redis_client, "nightly", sent).word == "paused"
    assert sent.sent == [] and store.runs("nightly").skips == 0
    assert start(redis_client, "nightly", sent, manual=True).plan
    assert store.set_paused("nightly", False).paused is False


def test_remove_forgets_the_schedule_and_its_runs(redis_client: redis.Redis) -> None:
    store = ScheduleStore(redis_client)
    store.add(_schedule())
    start(redis_client, "nightly", Recorder())
    store.remove("nightly")
    assert not redis_client.exists(keys.schedules(), keys.schedule_runs("nightly"))
    with pytest.raises(ConfigError, match="not found"):
        store.remove("nightly")
    with pytest.raises(ConfigError, match="not found"):
        start(redis_client, "nightly", Recorder())
