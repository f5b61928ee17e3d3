"""The redbeat boundary (syncer.fleet.beat): cron lines, timings, and entries on a real Redis.

The beat process itself, with workers and registries, is in ``tests/fleet/test_beat.py``.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
import redis

from syncer.config.ruleparse import parse_rule
from syncer.errors import ConfigError
from syncer.fleet.beat import (
    BEAT_LOCK_TIMEOUT,
    CRON_EXPIRES,
    TICK_PRIORITY,
    BeatEntries,
    beat_config,
    cron_timing,
    timing,
)
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.redisclient import REDIS_RETRIES, REDIS_SOCKET_TIMEOUT
from syncer.fleet.protocol.settings import RUN_SCHEDULE
from syncer.fleet.schedules import Schedule

pytestmark = pytest.mark.integration


def _schedule(name: str = "nightly", **fields: Any) -> Schedule:
    rule = parse_rule("src.example/lab/a:v1,v2", "dst.example/mirror/a", environ={})
    return Schedule(name, (rule,), **{"every": 5, "source": "images.yaml", **fields})


@pytest.mark.parametrize("line", ["0 */2 * *", "61 * * * *", "0 0 * * funday"])
def test_a_bad_cron_line_names_the_flag(line: str) -> None:
    with pytest.raises(ConfigError, match=r"^--cron "):
        cron_timing(line)


def test_a_cron_line_reads_in_crontab_order() -> None:
    # Celery's own argument order differs (day_of_week third): fields must map by name.
    timing = cron_timing("5 4 3 2 1")
    assert (timing.minute, timing.hour, timing.day_of_month, timing.month_of_year) == (
        {5},
        {4},
        {3},
        {2},
    )
    assert timing.day_of_week == {1}


def test_beat_entries_keep_their_last_run_across_a_pause(redis_server: str) -> None:
    entries = BeatEntries(redis_server)
    schedule = _schedule()
    entries.save(schedule)
    due = entries.due_at("nightly")
    assert due is not None
    client = redis.Redis.from_url(redis_server)
    meta = client.hget(keys.redbeat_prefix() + "nightly", "meta")
    entries.save(Schedule(**{**_fields(schedule), "paused": True}))
    assert entries.due_at("nightly") is None
    assert client.hget(keys.redbeat_prefix() + "nightly", "meta") == meta
    entries.delete("nightly")
    entries.delete("nightly")  # a second delete is harmless
    assert not client.exists(keys.redbeat_prefix() + "nightly")
    client.close()


def _fields(schedule: Schedule) -> dict[str, Any]:
    return {name: getattr(schedule, name) for name in Schedule.__slots__}


def test_an_every_schedule_is_an_interval_and_a_cron_one_a_crontab() -> None:
    assert timing(_schedule(every=900)).run_every == datetime.timedelta(seconds=900)
    cron = timing(_schedule(every=0, cron="0 */2 * * *"))
    assert cron.hour == set(range(0, 24, 2)) and cron.minute == {0}


def test_beat_config_keeps_redbeat_under_the_fleets_prefix() -> None:
    config = beat_config("redis://127.0.0.1:6379/3")
    assert config["redbeat_redis_url"] == "redis://127.0.0.1:6379/3"
    assert config["redbeat_key_prefix"] == keys.redbeat_prefix()
    assert config["redbeat_lock_timeout"] == BEAT_LOCK_TIMEOUT
    options = config["redbeat_redis_options"]  # the fleet's one client policy, not redbeat's
    assert options["retry"].get_retries() == REDIS_RETRIES
    assert options["socket_timeout"] == REDIS_SOCKET_TIMEOUT


def test_an_entry_sends_run_schedule_first_in_line_and_expires_stale_ticks(
    redis_server: str,
) -> None:
    entries = BeatEntries(redis_server)
    entries.save(_schedule(every=600))
    entries.save(_schedule("hourly", every=0, cron="0 * * * *"))
    client = redis.Redis.from_url(redis_server)
    try:
        every = json.loads(client.hget(keys.redbeat_prefix() + "nightly", "definition") or b"{}")
        cron = json.loads(client.hget(keys.redbeat_prefix() + "hourly", "definition") or b"{}")
    finally:
        client.close()
    assert every["task"] == RUN_SCHEDULE and every["kwargs"] == {"schedule": "nightly"}
    assert every["options"] == {"priority": TICK_PRIORITY, "expires": 600}
    assert cron["options"]["expires"] == CRON_EXPIRES
    assert entries.due_at("never-saved") is None
