"""``syncer plan|status|cancel`` against a real Redis, with no worker running.

The planner alone: what it enqueues (by task name, JSON only, no
credential), and how ``status`` and ``cancel`` answer for plans in each state.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys, settings
from syncer.fleet.state.images import PlanImages
from syncer.fleet.state.plans import PlanStore
from tests.support.processes import RunCli
from tests.support.scenario import redis_dump, secret_forms, write_json

pytestmark = pytest.mark.integration

SRC, DST = "src.example:5000", "dst.example:5000"


def _queued(client: redis.Redis) -> list[dict[str, Any]]:
    """Every message waiting in a Celery queue (one list per priority step)."""
    messages = []
    for key in client.scan_iter("celery*"):
        if client.type(key) == b"list":
            messages += [json.loads(raw) for raw in client.lrange(key, 0, -1)]
    return messages


def _task(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(task name, kwargs)`` of a Celery protocol-2 message."""
    assert message["content-type"] == "application/json"
    assert message["properties"]["body_encoding"] == "base64"
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == []
    return message["headers"]["task"], kwargs


def test_plan_enqueues_tasks_by_name_without_credentials(
    syncer_cli: RunCli,
    redis_client: redis.Redis,
    fleet_home: Path,
) -> None:
    password = "pw-planner-never-ships-this"
    auth = write_json(
        fleet_home / "auth.json",
        {
            SRC: {"username": "bob", "password": password, "max_connections": 3},
            DST: {"username": "alice", "password": password},
        },
    )
    images = write_json(
        fleet_home / "images.json",
        {
            f"{SRC}/team/app": f"{DST}/mirror/app",  # repo-wide: expanded by a worker
            f"{SRC}/team/db:1,2": [f"{DST}/mirror/db", f"{DST}/backup/db"],
        },
    )

    run = syncer_cli("plan", "--auth", auth, "--images", images, "--ttl", "600")

    assert run.code == 0, run
    plan = run.out.strip()
    tasks = sorted((_task(m) for m in _queued(redis_client)), key=lambda t: t[0])
    assert [name for name, _ in tasks] == [settings.EXPAND_RULE, settings.SYNC_TAGS]
    expand = tasks[0][1]
    assert expand["plan"] == plan and expand["rule"]["source"] == f"{SRC}/team/app"
    pairs = {(job["source"], job["dest"]) for job in tasks[1][1]["jobs"]}
    assert pairs == {
        (f"{SRC}/team/db:{t}", f"{DST}/{ns}/db:{t}")
        for t in ("1", "2")
        for ns in ("mirror", "backup")
    }
    store = PlanStore(redis_client)
    status = store.status(plan)
    assert status.counters["tags_total"] == 4 and status.counters["rules_pending"] == 1
    assert status.state == "running"
    assert store.meta(plan)["limits"] == {SRC: 3}
    assert 0 < redis_client.ttl(keys.plan_meta(plan)) <= 600
    dump = redis_dump(redis_client)
    for form in secret_forms("bob", password) + secret_forms("alice", password):
        assert form not in dump and form not in run.out + run.err


def test_dry_run_enqueues_nothing(
    syncer_cli: RunCli, redis_client: redis.Redis, fleet_home: Path
) -> None:
    images = write_json(
        fleet_home / "images.json",
        {
            f"{SRC}/team/app": f"{DST}/mirror/app",
            f"{SRC}/team/db:1,2": f"{DST}/mirror/db",
        },
    )

    run = syncer_cli("plan", "--images", images, "--dry-run")

    assert run.code == 0, run
    assert f"expand_rule {SRC}/team/app" in run.out
    assert [line.split()[0] for line in run.out.splitlines()[:-1]] == [
        "expand_rule",
        "image",
        "image",
    ]
    assert "2 image(s) in 1 sync_tags task(s) would be enqueued" in run.out
    assert list(redis_client.scan_iter()) == []


def test_status_of_a_running_plan(syncer_cli: RunCli, redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)
    plan = store.create({})
    store.bump(plan, tags_total=4, rules_pending=1, bytes_total=2048, bytes_done=1024)
    store.record(plan, ImageResult("s/a:1", "d/a:1", "synced"))

    run = syncer_cli("status", plan)

    assert run.code == 0, run
    assert run.out.startswith(f"plan {plan}: running")
    assert "tags  [" in run.out and " 1/4 " in run.out


def test_status_and_cancel_of_unknown_plans(syncer_cli: RunCli) -> None:
    status = syncer_cli("status", "20991231-000000-000000")
    cancel = syncer_cli("cancel", "20240101-000000-000000")
    # Older than this Redis's data: lost, if it ran here (nothing left says whether it did).
    older = syncer_cli("status", "20240101-000000-000000")

    assert status.code == 2 and "not found" in status.err, status
    assert cancel.code == 2 and "not found" in cancel.err, cancel
    assert older.code == 3 and "lost: Redis's data started over" in older.err, older
    assert "unless the plan ran on another Redis" in older.err


@pytest.mark.parametrize(
    "command",
    [("status", "some-plan"), ("plan", "--images", "IMAGES"), ("plans",), ("schedule", "list")],
)
def test_unreachable_redis_says_where_and_what_to_do(
    syncer_cli: RunCli, fleet_home: Path, command: tuple[str, ...]
) -> None:
    """A closed port: one line naming the URL (password masked) and the fix, exit 4."""
    images = write_json(fleet_home / "images.json", {f"{SRC}/team/app:1": f"{DST}/mirror/app"})
    args = [str(images) if word == "IMAGES" else word for word in command]
    run = syncer_cli(*args, "--redis", "redis://:hunter2-secret@127.0.0.1:1/0", timeout=30)

    assert run.code == 4, run
    assert run.err.splitlines() == [
        "syncer: error: cannot reach Redis at redis://***@127.0.0.1:1/0 (Error 111 connecting "
        "to 127.0.0.1:1. Connection refused.): start one (redis-server, or docker compose up "
        "-d redis) or point SYNCER_REDIS_URL (or --redis) at yours"
    ]
    assert "hunter2" not in run.out + run.err


def _cancelled_plan(syncer_cli: RunCli, redis_client: redis.Redis) -> str:
    store = PlanStore(redis_client)
    plan = store.create({})
    store.bump(plan, tags_total=4)
    store.record(plan, ImageResult("s/a:1", "d/a:1", "synced"))
    cancel = syncer_cli("cancel", plan)
    assert cancel.code == 0 and cancel.out.strip() == f"cancelled {plan}", cancel
    return plan


def test_status_of_a_cancelled_plan(syncer_cli: RunCli, redis_client: redis.Redis) -> None:
    plan = _cancelled_plan(syncer_cli, redis_client)

    run = syncer_cli("status", plan, "--output", "json")

    assert run.code == 1, run
    assert run.json["state"] == "cancelled"
    assert run.json["images"] == {"total": 4, "done": 1, "skipped": 0, "failed": 0}


def test_text_status_says_cancelled(syncer_cli: RunCli, redis_client: redis.Redis) -> None:
    plan = _cancelled_plan(syncer_cli, redis_client)

    run = syncer_cli("status", plan)

    assert run.code == 1, run
    assert "cancelled" in run.out + run.err


def test_status_json_of_a_running_plan_is_the_report(
    redis_client: redis.Redis, syncer_cli: RunCli
) -> None:
    store = PlanStore(redis_client)
    plan = store.create({})
    store.bump(plan, tags_total=2)
    store.record(plan, ImageResult(f"{SRC}/lab/a:v1", f"{DST}/mirror/a:v1", "synced", bytes=1))
    run = syncer_cli("status", plan, "--output", "json")
    assert run.code == 0, run
    report = run.json
    assert (report["plan"], report["state"]) == (plan, "running")
    assert report["images"] == {"total": 2, "done": 1, "skipped": 0, "failed": 0}


def test_status_and_plans_say_lost_for_a_plan_redis_lost(
    syncer_cli: RunCli, redis_client: redis.Redis, fleet_home: Path
) -> None:
    images = write_json(fleet_home / "images.json", {f"{SRC}/lab/a:v1,v2": f"{DST}/mirror/a"})
    evicted = syncer_cli("plan", "--images", images).out.strip()
    flushed = syncer_cli("plan", "--images", images).out.strip()

    redis_client.delete(keys.plan_meta(evicted))  # as maxmemory eviction would
    cut = syncer_cli("status", evicted, "--output", "json")
    follow = syncer_cli("status", evicted, "-f", timeout=30)
    listed = syncer_cli("plans", "--output", "json")
    time.sleep(1.1)  # plan ids hold whole seconds: the new dataset must be later
    redis_client.flushdb()  # a Redis that started over
    text = syncer_cli("status", flushed)
    report = syncer_cli("status", flushed, "--output", "json")
    unknown = syncer_cli("status", "20991231-000000-abcdef")

    assert cut.code == 3 and cut.json["state"] == "lost" and "evicted" in cut.json["lost"], cut
    assert follow.code == 3 and f"plan {evicted} lost: " in follow.err, follow
    states = {row["plan"]: (row["state"], row["lost"]) for row in listed.json}  # type: ignore[attr-defined]
    assert states[evicted][0] == "lost" and states[flushed] == ("running", ""), states
    assert text.code == 3 and f"plan {flushed} lost: Redis's data started over" in text.err, text
    assert "Traceback" not in text.err + follow.err
    assert report.code == 3 and report.json["state"] == "lost", report
    assert "started over" in report.json["lost"]
    assert unknown.code == 2 and "not found" in unknown.err, unknown


def test_status_ends_a_plan_held_open_by_an_image_final_but_uncounted(
    syncer_cli: RunCli, redis_client: redis.Redis, fleet_home: Path
) -> None:
    images = write_json(fleet_home / "images.json", {f"{SRC}/lab/a:v1,v2": f"{DST}/mirror/a"})
    plan = syncer_cli("plan", "--images", images).out.strip()
    store = PlanStore(redis_client)
    v1, v2 = ((f"{SRC}/lab/a:{t}", f"{DST}/mirror/a:{t}") for t in ("v1", "v2"))
    store.record(plan, ImageResult(*v1, "synced", rule=f"{SRC}/lab/a"))
    # v2 as a worker of an older release left it: pushed and final, killed before its result.
    job = {"source": v2[0], "dest": v2[1], "rule": f"{SRC}/lab/a"}
    PlanImages(redis_client).save_image(plan, keys.image_id(*v2), {"job": job})
    redis_client.hset(keys.image_record(plan, keys.image_id(*v2)), "final", "1")
    running = syncer_cli("status", plan, "--output", "json")
    ttl = int(store.meta(plan)["ttl"])
    redis_client.expire(keys.plan_counters(plan), ttl - 60)  # as if it stood still a minute

    ended = syncer_cli("status", plan, "--output", "json")

    assert running.code == 0 and running.json["state"] == "running", running  # still moving
    assert ended.code == 1 and ended.json["state"] == "finished", ended
    [failed] = ended.json["failed"]
    assert failed["source"] == v2[0] and "never recorded" in failed["reason"]
