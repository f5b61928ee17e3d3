"""A schedules file reconciled into Redis (syncer.fleet.schedulefile), on a real Redis."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import redis

from syncer.config.ruleparse import parse_rule
from syncer.errors import ConfigError
from syncer.fleet.beat import BeatEntries
from syncer.fleet.protocol import keys
from syncer.fleet.schedulefile import Reconciler, load
from syncer.fleet.schedules import Schedule, ScheduleStore

pytestmark = pytest.mark.integration


def _write(home: Path, schedules: dict[str, Any]) -> Path:
    (home / "images.json").write_text(json.dumps({"src.example/lab/a:v1": "dst.example/m/a"}))
    path = home / "schedules.json"
    path.write_text(json.dumps({"schedules": schedules}))
    return path


def test_a_file_declares_schedules_with_paths_beside_it(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"mirrors": {"images": "images.json", "every": "15m", "os": "linux", "arch": ["arm64"]}},
    )
    [(name, declared)] = load(path).items()
    schedule = declared.schedule
    assert (name, schedule.every, schedule.cron, declared.pauses) == ("mirrors", 900, "", False)
    assert [str(r.key) for r in schedule.rules] == ["src.example/lab/a:v1"]
    assert schedule.platforms.oses and schedule.platforms.archs
    assert schedule.source.endswith(f"(from {path.resolve()})")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"images": "images.json"}, "give one of every or cron"),
        ({"images": "images.json", "every": "5m", "cron": "* * * * *"}, "give one of"),
        ({"every": "5m"}, "schedules.m.images: required"),
        ({"images": "images.json", "every": "soon"}, "--every 'soon'"),
        ({"images": "images.json", "cron": "* *"}, "five fields"),
        ({"images": "images.json", "every": "5m", "ttl": 0}, "schedules.m.ttl"),
        ({"images": "images.json", "every": "5m", "colour": "red"}, "schedules.m.colour"),
        ({"images": "gone.json", "every": "5m"}, "gone.json: cannot read"),
        ({"images": "images.json", "every": "5m", "force": "yes"}, "schedules.m.force"),
    ],
)
def test_a_bad_field_is_named(tmp_path: Path, body: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace("'", "'")):
        load(_write(tmp_path, {"m": body}))


def test_a_file_that_is_not_a_schedules_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="one key, schedules"):
        load(path)


def test_redis_is_made_to_hold_the_file(
    tmp_path: Path, redis_server: str, redis_client: redis.Redis
) -> None:
    path = _write(tmp_path, {"mirrors": {"images": "images.json", "every": "15m"}})
    store = ScheduleStore(redis_client)
    by_hand = Schedule("by-hand", (parse_rule("s.example/a:1", "d.example/a", environ={}),), 60)
    store.add(by_hand)
    reconciler = Reconciler(redis_client, path, redis_server)

    assert reconciler.load() is True and reconciler.load() is False
    assert reconciler.apply() == ["added mirrors"]
    assert reconciler.apply() == []  # idempotent
    assert BeatEntries(redis_server).due_at("mirrors") is not None

    redis_client.flushdb()  # a Redis that lost everything
    assert reconciler.apply() == ["added mirrors"]
    assert BeatEntries(redis_server).due_at("mirrors") is not None, "the beat's entry is back"

    store.add(by_hand)
    store.set_paused("mirrors", True)  # an operator's pause is kept ...
    assert reconciler.apply() == [] and store.get("mirrors").paused
    path.write_text(json.dumps({"schedules": {"mirrors2": {"images": "images.json", "every": 60}}}))
    assert reconciler.load() is True
    assert sorted(reconciler.apply()) == ["added mirrors2", "removed mirrors"]
    assert [s.name for s in store.all()] == ["by-hand", "mirrors2"], "a hand-added one is kept"
    assert redis_client.exists(keys.redbeat_prefix() + "mirrors") == 0


def test_keep_puts_redis_right_and_survives_a_bad_edit(
    tmp_path: Path, redis_server: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, {"mirrors": {"images": "images.json", "every": "15m"}})
    reconciler = Reconciler(redis_client, path, redis_server)
    reconciler.load()
    reconciler.apply()
    redis_client.flushdb()
    path.write_text("schedules: [")  # a bad edit
    stop = threading.Event()
    rounds = threading.Thread(target=reconciler.keep, args=(0.05, stop))
    rounds.start()
    try:
        _until(lambda: "schedules file not applied" in caplog.text)
        # The last good version is put back in the Redis that lost it.
        _until(lambda: [s.name for s in ScheduleStore(redis_client).all()] == ["mirrors"])
        _write(tmp_path, {"nightly": {"images": "images.json", "every": "1d"}})
        _until(lambda: [s.name for s in ScheduleStore(redis_client).all()] == ["nightly"])
    finally:
        stop.set()
        rounds.join(timeout=10)
    assert caplog.text.count("schedules file not applied") == 1, "logged once per bad edit"


def _until(predicate: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
