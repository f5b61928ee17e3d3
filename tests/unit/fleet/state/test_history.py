"""Plan history against a real ``redis-server``: the index, its pruning, and retry configs."""

from __future__ import annotations

import pytest
import redis

from syncer.engine.expansion import explicit_jobs
from syncer.engine.jobs import ImageResult
from syncer.errors import ConfigError
from syncer.fleet.protocol import keys
from syncer.fleet.state.history import recent, retry_config, summary
from syncer.fleet.state.plans import PlanStore

pytestmark = pytest.mark.integration

SRC, DST = "src.example:5000", "dst.example:5000"


def _plan(client: redis.Redis, results: list[ImageResult], **meta: object) -> str:
    store = PlanStore(client)
    plan = store.create(dict(meta))
    store.bump(plan, tags_total=len(results))
    for result in results:
        store.record(plan, result)
    return plan


def _synced(repo: str, tag: str) -> ImageResult:
    return ImageResult(f"{SRC}/lab/{repo}:{tag}", f"{DST}/mirror/{repo}:{tag}", "synced", bytes=1)


def _failed(source: str, dest: str) -> ImageResult:
    return ImageResult(source, dest, "failed", "boom", rule="r")


def test_recent_lists_newest_first_with_counts(redis_client: redis.Redis) -> None:
    older = _plan(redis_client, [_synced("a", "v1")], source="a.yaml")
    newer = _plan(
        redis_client, [_synced("a", "v2"), _failed(f"{SRC}/lab/b:v1", f"{DST}/mirror/b:v1")]
    )
    PlanStore(redis_client).update_meta(newer, schedule="nightly")
    redis_client.zadd(keys.plan_index(), {older: 1.0, newer: 2.0})  # same second: order them
    rows = recent(redis_client)
    assert [r.plan for r in rows] == [newer, older]
    assert rows[0].to_dict() | {"started": 0, "duration_seconds": 0} == {
        "lost": "",
        "plan": newer,
        "schedule": "nightly",
        "state": "finished",
        "started": 0,
        "duration_seconds": 0,
        "bytes": 0,
        "synced": 1,
        "unchanged": 0,
        "failed": 1,
        "source": "",
    }
    assert [r.plan for r in recent(redis_client, schedule="nightly")] == [newer]
    assert [r.plan for r in recent(redis_client, limit=1)] == [newer]


def test_expired_plans_leave_the_index(redis_client: redis.Redis) -> None:
    kept = _plan(redis_client, [_synced("a", "v1")])
    gone = _plan(redis_client, [_synced("a", "v2")])
    for key in keys.plan_keys(gone):
        redis_client.delete(key)
    assert [r.plan for r in recent(redis_client)] == [kept]
    assert summary(redis_client, gone) is None
    assert redis_client.zrange(keys.plan_index(), 0, -1) == [kept.encode()]


def test_a_running_plan_shows_running(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)
    plan = store.create({})
    store.bump(plan, tags_total=2)
    row = summary(redis_client, plan)
    assert row is not None and row.state == "running"


def test_retry_config_selects_exactly_the_failed_images(redis_client: redis.Redis) -> None:
    results = [
        _synced("a", "v1"),
        _failed(f"{SRC}/lab/a:v2", f"{DST}/mirror/a:v2"),
        _failed(f"{SRC}/lab/a:v2", f"{DST}/other/a:v2"),  # one source, two destinations
        _failed(f"{SRC}/lab/c:v1", f"{DST}/mirror/c:prod"),  # a renamed tag stays renamed
        _failed(f"{SRC}/lab/b", f"{DST}/mirror/b"),  # its tags could not be listed
        _failed("not a reference", ""),  # an entry that never parsed
    ]
    plan = _plan(
        redis_client,
        results,
        force=True,
        platforms={"os": ["linux"], "arch": []},
        limits={DST: 2},
    )
    config, options = retry_config(PlanStore(redis_client), plan)
    jobs = {
        (str(j.source), str(j.dest))
        for r in config.rules
        if r.kind == "tags"
        for j in explicit_jobs(r)
    }
    assert jobs == {
        (f"{SRC}/lab/a:v2", f"{DST}/mirror/a:v2"),
        (f"{SRC}/lab/a:v2", f"{DST}/other/a:v2"),
        (f"{SRC}/lab/c:v1", f"{DST}/mirror/c:prod"),
    }
    [whole] = [r for r in config.rules if r.kind == "all"]
    assert (str(whole.source), [str(d) for d in whole.destinations]) == (
        f"{SRC}/lab/b",
        [f"{DST}/mirror/b"],
    )
    assert [b.key for b in config.broken] == ["not a reference"]
    assert dict(config.auth) == {} and dict(config.limits) == {DST: 2}
    assert options.force and options.platforms.oses == ("linux",)


def test_only_a_finished_plan_is_retried(redis_client: redis.Redis) -> None:
    store = PlanStore(redis_client)
    plan = store.create({})
    store.bump(plan, tags_total=1)
    with pytest.raises(ConfigError, match="still running"):
        retry_config(store, plan)
    with pytest.raises(ConfigError, match="not found"):
        retry_config(store, "20200101-000000-000000")
