"""Schedules end to end: real ``syncer beat`` processes, real workers, real registries.

A schedule at ``--every 5s`` plans again and again, never while its previous
plan (made slow by a bandwidth-capped source) still runs, and a beat restart
neither repeats a tick nor replays the ticks it missed. Two beats started
together send one tick per period. ``plan --retry-failed`` re-plans exactly
the images that failed. Every wait has a deadline.
"""

from __future__ import annotations

import datetime
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from lab.images import build_image_set
from tests.support.processes import ManagedProcess, RunCli, WorkerFactory, fleet_env
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, seed, write_json
from tests.support.tcprelay import ThrottledRelay
from tests.support.verify import RegistryReader, access_log, verify_image

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

EVERY = 5.0
#: The large layer through the relay takes about 2 MiB / 192 KiB/s = 11 s.
LARGE, RATE = 2 << 20, 192 << 10
_SENT = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/\w+\] Scheduler: Sending due task"
)


class BeatProcess(ManagedProcess):
    """``python -m syncer beat`` on the test's Redis."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        argv = [sys.executable, "-m", "syncer", "beat", "--loglevel", "INFO"]
        super().__init__(log_path.stem, argv, env, log_path)

    def wait_ready(self) -> None:
        """Celery beat logs ``beat: Starting...`` before it tries redbeat's lock."""
        self.wait_for_log(r"beat: Starting")

    def sends(self) -> list[float]:
        """When this beat sent a tick (epoch seconds, from its log)."""
        return [_epoch(m.group(1)) for m in _SENT.finditer(self.log_text())]


def _epoch(stamp: str) -> float:
    # Celery logs local time; the fleet processes and this test share the clock and zone.
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s: {what}"
        time.sleep(0.2)


def _beat(redis_server: str, home: Path, name: str) -> BeatProcess:
    beat = BeatProcess(fleet_env(redis_server, home), home / f"{name}.log")
    beat.start()
    return beat


def _listing(syncer_cli: RunCli, name: str) -> dict[str, Any]:
    run = syncer_cli("schedule", "list", "--output", "json")
    assert run.code == 0, run
    [row] = [r for r in run.json if r["name"] == name]  # type: ignore[attr-defined]
    return row  # type: ignore[no-any-return]


def _plans(syncer_cli: RunCli, name: str) -> list[dict[str, Any]]:
    run = syncer_cli("plans", "--schedule", name, "--output", "json", "-n", "100")
    assert run.code == 0, run
    return sorted(run.json, key=lambda p: p["started"])  # type: ignore[arg-type,return-value]


def _repo(path: str) -> str:
    """``lab/app1`` from ``/v2/lab/app1/manifests/v2``."""
    return "/".join(path.split("/")[2:4])


def _gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in zip(ordered, ordered[1:], strict=False)]


def test_a_schedule_never_overlaps_and_survives_a_beat_restart(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    redis_server: str,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(21, repos=0, large_layer_size=LARGE)
    [large] = seed(source, [image_set.get("lab/large", "v1")])
    beats: list[BeatProcess] = []
    with ThrottledRelay(source.host, RATE) as relay:
        auth = write_json(fleet_home / "auth.json", insecure(relay.host, dest.host))
        images = write_json(
            fleet_home / "images.json", {f"{relay.host}/lab/large:v1": f"{dest.host}/mirror/large"}
        )
        workers(1, auth=auth, concurrency=4)
        add = syncer_cli("schedule", "add", "mirror", "--images", images, "--every", "5s")
        assert add.code == 0, add
        try:
            beats.append(_beat(redis_server, fleet_home, "beat1"))
            # The first plan streams the large layer for ~11 s; ticks meanwhile are skips.
            _wait_for("two plans", lambda: _listing(syncer_cli, "mirror")["runs"] >= 2, 50)
            beats[0].stop()
            stopped = time.time()
            time.sleep(2.5 * EVERY)  # two periods missed
            beats.append(_beat(redis_server, fleet_home, "beat2"))
            beats[1].wait_ready()
            restarted = time.time()
            _wait_for("two sends after the restart", lambda: len(beats[1].sends()) >= 2, 20)
        finally:
            for beat in beats:
                beat.stop()

    row = _listing(syncer_cli, "mirror")
    plans = _plans(syncer_cli, "mirror")
    assert row["skips"] >= 1, row
    assert plans[0]["duration_seconds"] > EVERY, plans[0]
    for earlier, later in zip(plans, plans[1:], strict=False):
        assert later["started"] >= earlier["started"] + earlier["duration_seconds"], plans
    assert all(p["state"] == "finished" and p["failed"] == 0 for p in plans), plans
    assert row["runs"] == len(plans) and row["last_plan"] == plans[-1]["plan"]
    # The restart: nothing sent while down, the missed period sent once, none twice.
    before, after = beats[0].sends(), beats[1].sends()
    assert not [t for t in before if t > stopped + 0.5]
    assert len([t for t in after if t < restarted + EVERY - 1]) == 1, (restarted, after)
    assert min(_gaps(before + after)) >= EVERY - 1, (before, after)
    verify_image(RegistryReader(dest.url), "mirror/large", "v1", large.digest)


def test_two_beats_started_together_send_one_tick_per_period(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    redis_server: str,
    redis_client: redis.Redis,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(22, repos=1, tags_per_repo=1, large_layer_size=0)
    seed(source, [image_set.get("lab/app0", "v1")])
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    images = write_json(
        fleet_home / "images.json", {f"{source.host}/lab/app0:v1": f"{dest.host}/mirror/app0"}
    )
    workers(1, auth=auth, concurrency=3)
    assert syncer_cli("schedule", "add", "twice", "--images", images, "--every", "5s").code == 0
    pair = [_beat(redis_server, fleet_home, f"beat{n}") for n in (1, 2)]
    try:
        for beat in pair:
            beat.wait_ready()
        started = time.time()
        _wait_for("three plans", lambda: _listing(syncer_cli, "twice")["runs"] >= 3, 40)
        window = time.time() - started
    finally:
        for beat in pair:
            beat.terminate()
        for beat in pair:
            beat.stop()

    password = urlsplit(redis_server).password
    assert password and not [b.name for b in pair if password in b.log_text()]
    holders = [b for b in pair if "beat: Acquired lock" in b.log_text()]
    assert len(holders) == 1, [b.log_tail() for b in pair]
    sends = [t for b in pair for t in b.sends()]
    assert min(_gaps(sends)) >= EVERY - 1, sends
    assert len(sends) <= window / EVERY + 2, (window, sends)
    plans = _plans(syncer_cli, "twice")
    assert min(_gaps([p["started"] for p in plans])) >= EVERY - 1, plans
    assert redis_client.exists("syncer:redbeat::lock") == 0  # released on a warm stop


def test_retry_failed_replans_exactly_the_failed_images(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(23, repos=2, tags_per_repo=2, large_layer_size=0)
    present = [image_set.get("lab/app0", "v1"), image_set.get("lab/app0", "v2")]
    late = image_set.get("lab/app1", "v2")
    seed(source, [*present, image_set.get("lab/app1", "v1")])
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    rules = {
        f"{source.host}/lab/app0:v1,v2": f"{dest.host}/mirror/app0",
        f"{source.host}/lab/app1:v2": f"{dest.host}/mirror/app1",  # not there yet: fails
        f"{source.host}/lab/gone": f"{dest.host}/mirror/gone",  # no such repository: fails
    }
    images = write_json(fleet_home / "images.json", rules)
    workers(2, auth=auth, concurrency=3)
    first = syncer_cli("plan", "--images", images, "--wait", "--output", "json")
    assert first.code == 1, first
    failed = {(r["source"], r["dest"]) for r in first.json["failed"]}
    assert failed == {
        (f"{source.host}/lab/app1:v2", f"{dest.host}/mirror/app1:v2"),
        (f"{source.host}/lab/gone", f"{dest.host}/mirror/gone"),
    }, first

    seed(source, [late])  # the missing tag appears
    since = len(access_log(source.server))
    retry = syncer_cli("plan", "--retry-failed", first.json["plan"], "--wait", "--output", "json")
    assert retry.code == 1, retry  # lab/gone still fails
    by_status = {r["dest"]: r["status"] for r in retry.json["results"]}
    assert by_status == {
        f"{dest.host}/mirror/app1:v2": "synced",
        f"{dest.host}/mirror/gone": "failed",
    }
    touched = {_repo(a.path) for a in access_log(source.server)[since:] if "/v2/lab/" in a.path}
    assert touched == {"lab/app1", "lab/gone"}, touched  # lab/app0 was not looked at again
    verify_image(RegistryReader(dest.url), "mirror/app1", "v2", late.digest)
    history: list[dict[str, Any]] = syncer_cli("plans", "--output", "json").json  # type: ignore[assignment]
    assert [p["plan"] for p in history] == [retry.json["plan"], first.json["plan"]]
    assert (history[0]["synced"], history[0]["failed"]) == (1, 1)


def test_a_schedules_file_comes_back_to_a_redis_that_lost_everything(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    redis_server: str,
    redis_client: redis.Redis,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(24, repos=1, tags_per_repo=1, large_layer_size=0)
    [image] = seed(source, [image_set.get("lab/app0", "v1")])
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    write_json(fleet_home / "images.json", {f"{source.host}/lab/app0:v1": f"{dest.host}/m/app0"})
    schedules = write_json(
        fleet_home / "schedules.json",
        {"schedules": {"filed": {"images": "images.json", "every": "5s"}}},
    )
    workers(1, auth=auth, concurrency=2)
    argv = [sys.executable, "-m", "syncer", "beat", "--schedules", str(schedules)]
    beat = ManagedProcess("beat", argv, fleet_env(redis_server, fleet_home), fleet_home / "b.log")
    beat.start()
    try:
        beat.wait_for_log(r"schedules from .*: added filed")
        _wait_for("a first plan", lambda: _listing(syncer_cli, "filed")["runs"] >= 1, 30)
        redis_client.flushdb()  # restarted without persistence: schedules, entries, plans gone
        lost = time.monotonic()
        _wait_for(
            "the schedule back", lambda: redis_client.hexists("syncer:schedules", "filed"), 20
        )
        back = time.monotonic() - lost
        _wait_for("a plan after the loss", lambda: _listing(syncer_cli, "filed")["runs"] >= 1, 30)
        assert beat.running, beat.log_tail()
    finally:
        beat.stop()

    assert back <= 3 * 5.0, f"the schedule came back {back:.0f}s after the loss"
    assert "schedules reconciled (Redis did not hold them): added filed" in beat.log_text()
    plans = _plans(syncer_cli, "filed")
    assert plans and all(p["state"] in ("finished", "running") for p in plans), plans
    verify_image(RegistryReader(dest.url), "m/app0", "v1", image.digest)
