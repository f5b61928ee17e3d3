"""``plan --wait`` when Redis loses the plan (syncer.cli.planwait), on a real ``redis-server``.

A thread plays the fleet: it waits for each plan the planner submits, and
either finishes it through the ledger, as workers do, or flushes the
database under it, as a Redis restarted without persistence does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from syncer.cli import exits, planview
from syncer.cli.planwait import PLAN_LOSSES_MAX, Submitter, wait
from syncer.config.files import SyncConfig
from syncer.config.ruleparse import parse_rule
from syncer.engine.jobs import ImageResult
from syncer.engine.options import SyncOptions
from syncer.fleet.protocol import keys
from syncer.fleet.state.ledger import Ledger
from syncer.fleet.state.plans import PlanStore
from tests.support.dispatch import Recorder

pytestmark = pytest.mark.integration

SRC, DST = "src.example/lab/a:v1", "dst.example/mirror/a"


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planview, "FOLLOW_REDRAW", 0.05)
    monkeypatch.setattr(planview, "FOLLOW_POLL", 0.01)


def _submitter(client: redis.Redis, dispatch: Recorder) -> Submitter:
    config = SyncConfig(auth={}, rules=(parse_rule(SRC, DST, environ={}),), limits={})
    return Submitter(
        client,
        config,
        SyncOptions(),
        dispatcher=dispatch,
        where="Redis",
        source="t",
        ttl=300,
        meta={},
    )


def _fleet(client: redis.Redis, fates: list[str]) -> Callable[[], None]:
    """Each submitted plan in turn is ``lost`` (the database flushed) or ``done``."""

    def play() -> None:
        seen: set[str] = set()
        for fate in fates:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                plans = {p.decode() for p in client.zrange(keys.plan_index(), 0, -1)} - seen
                if plans:
                    break
                time.sleep(0.02)
            [plan] = plans
            seen.add(plan)
            time.sleep(0.2)  # the follower has seen it
            if fate == "lost":
                client.flushdb()
                continue
            store = PlanStore(client)
            result = ImageResult(SRC, f"{DST}:v1", "synced", rule=SRC)
            image = keys.image_id(SRC, f"{DST}:v1")
            Ledger(client, store.ttl_for).finish(
                plan, image, keys.once_finished(image, SRC), result
            )

    return play


def _run(client: redis.Redis, fates: list[str]) -> tuple[int, Recorder]:
    dispatch = Recorder()
    submitter = _submitter(client, dispatch)
    fleet = threading.Thread(target=_fleet(client, fates), daemon=True)
    fleet.start()
    code = wait(PlanStore(client), submitter, submitter.submit(), "json", "Redis")
    fleet.join(timeout=20)
    return code, dispatch


def test_a_lost_plan_is_submitted_again_and_ends_ok(
    redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, dispatch = _run(redis_client, ["lost", "done"])

    out, err = capsys.readouterr()
    assert code == exits.EXIT_OK, err
    assert err.count("re-submitted as plan") == 1, err
    assert "Redis's data started over" in err or "record is gone" in err
    assert len(dispatch.names) == 2, "the same image was sent once per submission"
    assert '"state": "finished"' in out


def test_three_losses_stop_with_a_clear_error(
    redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, dispatch = _run(redis_client, ["lost"] * PLAN_LOSSES_MAX)

    out, err = capsys.readouterr()
    assert code == exits.EXIT_LOST
    assert err.count("re-submitted as plan") == PLAN_LOSSES_MAX - 1
    assert f"the plan was lost or stuck {PLAN_LOSSES_MAX} times; giving up" in err
    assert '"state": "lost"' in out and '"lost": ' in out
    assert len(dispatch.names) == PLAN_LOSSES_MAX
