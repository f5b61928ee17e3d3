"""``syncer plans`` (syncer.cli.history): the table and the JSON rows, from a real Redis."""

from __future__ import annotations

import argparse
import json

import pytest
import redis

from syncer.cli.history import add_history_parsers, cmd_plans, print_table, when
from syncer.engine.jobs import ImageResult
from syncer.fleet.state.plans import PlanStore

pytestmark = pytest.mark.integration


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="syncer")
    add_history_parsers(parser.add_subparsers())
    return parser.parse_args(["plans", *argv])


def _plans(client: redis.Redis) -> tuple[str, str]:
    store = PlanStore(client)
    nightly = store.create({"schedule": "nightly", "source": "images.yaml"})
    store.bump(nightly, tags_total=2, bytes_done=3 << 20)
    store.record(nightly, ImageResult("s/a:1", "d/a:1", "synced", bytes=3 << 20))
    store.record(nightly, ImageResult("s/a:2", "d/a:2", "failed", "boom"))
    manual = store.create({})
    store.bump(manual, tags_total=1)
    return nightly, manual


def test_when_prints_utc_or_a_dash() -> None:
    assert when(0) == "1970-01-01 00:00:00Z"
    assert when(None) == "-"


def test_a_table_pads_each_column_to_its_widest_cell(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([("A", "BB", "C"), ("long", "x", "")])
    assert capsys.readouterr().out == "A     BB  C\nlong  x\n"


def test_the_table_lists_newest_first_with_schedule_state_and_counts(
    redis_server: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly, manual = _plans(redis_client)
    assert cmd_plans(_args("--redis", redis_server)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "PLAN", "SCHEDULE", "STATE", "STARTED", "DURATION", "BYTES", "SYNCED", "UNCHANGED", "FAILED"
    ]  # fmt: skip
    assert [line.split()[:3] for line in lines[1:]] == [
        [manual, "-", "running"],
        [nightly, "nightly", "finished"],
    ]
    assert lines[2].split()[-5:] == ["3.0", "MiB", "1", "0", "1"]


def test_json_rows_can_be_narrowed_to_one_schedule_and_limited(
    redis_server: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly, _ = _plans(redis_client)
    assert (
        cmd_plans(_args("--redis", redis_server, "--schedule", "nightly", "--output", "json")) == 0
    )
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["plan"], row["schedule"], row["source"]) == (nightly, "nightly", "images.yaml")
    assert (row["synced"], row["failed"], row["bytes"]) == (1, 1, 3 << 20)
    assert cmd_plans(_args("--redis", redis_server, "-n", "1", "--output", "json")) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
