"""``syncer schedule`` as a subprocess: bad input stores nothing, and credentials never stay.

The beat and the workers are in ``test_beat.py``; these need only Redis.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.fleet.conftest import RunCli
from tests.support.scenario import redis_dump, write_json

pytestmark = pytest.mark.integration

GOOD = {"src.example:5000/lab/a:v1": "dst.example:5000/mirror/a"}


@pytest.fixture
def images(fleet_home: Path) -> Path:
    return write_json(fleet_home / "images.json", GOOD)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["Bad_Name", "--every", "5s"], "schedule name 'Bad_Name'"),
        (["ok", "--every", "5 minutes"], "--every '5 minutes'"),
        (["ok", "--every", "0s"], "--every '0s'"),
        (["ok", "--cron", "* * *"], "--cron '* * *': give five fields"),
        (["ok", "--cron", "0 25 * * *"], "--cron '0 25 * * *'"),
        (["ok", "--every", "5s", "--ttl", "0"], "--ttl 0"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_stored(
    syncer_cli: RunCli, redis_client: redis.Redis, images: Path, args: list[str], says: str
) -> None:
    run = syncer_cli("schedule", "add", *args, "--images", images)
    assert run.code == 2, run
    assert run.err.count("\n") == 1 and run.err.startswith("syncer: error: ") and says in run.err
    assert redis_client.dbsize() == 0


def test_a_broken_images_entry_is_refused(
    syncer_cli: RunCli, redis_client: redis.Redis, fleet_home: Path
) -> None:
    bad = write_json(fleet_home / "bad.json", {**GOOD, "src.example:5000/lab/b:/[/": "dst/b"})
    run = syncer_cli("schedule", "add", "ok", "--images", bad, "--every", "5s")
    assert run.code == 2 and "lab/b" in run.err, run
    assert redis_client.dbsize() == 0


def test_both_or_neither_timing_is_a_usage_error(
    syncer_cli: RunCli, redis_client: redis.Redis, images: Path
) -> None:
    for timing in ([], ["--every", "5s", "--cron", "* * * * *"]):
        run = syncer_cli("schedule", "add", "ok", "--images", images, *timing)
        assert run.code == 2, run
    assert redis_client.dbsize() == 0


def test_credentials_are_checked_and_never_stored(
    syncer_cli: RunCli, redis_client: redis.Redis, images: Path, fleet_home: Path
) -> None:
    secret = "pa55-" + "x" * 12
    auth = write_json(
        fleet_home / "auth.json",
        {"src.example:5000": {"username": "robot", "password": secret, "max_connections": 3}},
    )
    run = syncer_cli(
        "schedule", "add", "ok", "--images", images, "--auth", auth, "--cron", "0 * * * *"
    )
    assert run.code == 0, run
    assert "no worker is alive" in run.err  # the same preflight as `syncer plan`
    dump = redis_dump(redis_client)
    assert secret not in dump and "robot" not in dump
    listing = syncer_cli("schedule", "list", "--output", "json").json
    assert [(r["name"], r["timing"], r["paused"]) for r in listing] == [  # type: ignore[index]
        ("ok", "cron 0 * * * *", False)
    ]


def test_pause_resume_remove_and_unknown_names(
    syncer_cli: RunCli, redis_client: redis.Redis, images: Path
) -> None:
    assert syncer_cli("schedule", "add", "ok", "--images", images, "--every", "1h").code == 0
    again = syncer_cli("schedule", "add", "ok", "--images", images, "--every", "5s")
    assert again.code == 2 and "exists" in again.err, again
    assert syncer_cli("schedule", "pause", "ok").code == 0
    [row] = syncer_cli("schedule", "list", "--output", "json").json  # type: ignore[misc]
    assert row["paused"] is True and row["next_run"] is None and row["timing"] == "every 1h"
    assert syncer_cli("schedule", "resume", "ok").code == 0
    [row] = syncer_cli("schedule", "list", "--output", "json").json  # type: ignore[misc]
    assert row["paused"] is False and row["next_run"] is not None
    assert syncer_cli("schedule", "remove", "ok").code == 0
    assert redis_client.dbsize() == 0  # definition, runs and redbeat's entry all gone
    for verb in ("remove", "run", "pause", "resume"):
        run = syncer_cli("schedule", verb, "ok")
        assert run.code == 2 and "schedule 'ok' not found" in run.err, run
