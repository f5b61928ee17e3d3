"""Following a plan through a Redis outage: one line when it goes, one when it is back."""

from __future__ import annotations

import io
from typing import Any

import pytest
import redis

from syncer.cli import exits, planview
from syncer.fleet.protocol import redisclient
from syncer.fleet.state.plans import COUNTER_FIELDS, PlanStatus

WHERE = "Redis at redis://***@127.0.0.1:6379/0"


def _finished(plan: str) -> PlanStatus:
    counters = dict.fromkeys(COUNTER_FIELDS, 0)
    counters.update(tags_total=2, tags_done=2)
    return PlanStatus(plan, {"created": 0.0, "ended": 1.0}, counters, False, [])


class _FlakyStore:
    """A plan store whose first ``failures`` reads fail as a restarting Redis does."""

    redis: Any = None

    def __init__(self, failures: list[Exception]) -> None:
        self.failures, self.reads = failures, 0

    def status(self, plan: str, *, results: bool = True) -> PlanStatus:
        self.reads += 1
        if self.failures:
            raise self.failures.pop(0)
        return _finished(plan)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(redisclient, "REDIS_RECONNECT_FIRST", 0.01)
    monkeypatch.setattr(redisclient, "REDIS_RECONNECT_MAX", 0.04)
    monkeypatch.setattr(planview.time, "sleep", slept.append)
    return slept


def test_an_outage_is_ridden_out_with_one_line_each_way(
    fast_backoff: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    outage = [
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        redis.ConnectionError("Connection closed by server."),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.TimeoutError("Timeout reading from socket"),
        redis.ConnectionError("Connection reset by peer"),
    ]
    store, stream = _FlakyStore(outage), io.StringIO()

    code = planview.follow(store, "p1", "text", stream, WHERE)  # type: ignore[arg-type]

    assert code == exits.EXIT_OK
    assert stream.getvalue().splitlines() == [
        f"syncer: {WHERE} unreachable (ConnectionError); trying again every 0.04s at most",
        f"syncer: {WHERE} is back after 0s",
    ]
    assert fast_backoff == [0.01, 0.02, 0.04, 0.04, 0.04], "backoff doubles up to its cap"
    assert store.reads == 7  # five failures, the status, the final report
    assert "Traceback" not in capsys.readouterr().err


def test_ctrl_c_during_an_outage_prints_the_reattach_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slept: list[float] = []

    def interrupted(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(planview.time, "sleep", interrupted)
    store = _FlakyStore([redis.ConnectionError("refused"), redis.ConnectionError("refused")])
    stream = io.StringIO()

    code = planview.follow(store, "p1", "text", stream, WHERE)  # type: ignore[arg-type]

    assert code == exits.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "syncer status p1 -f" in err and "syncer cancel p1" in err
    assert stream.getvalue().count("unreachable") == 1


def test_a_single_failed_read_is_not_an_outage(fast_backoff: list[float]) -> None:
    store, stream = (
        _FlakyStore([redis.ConnectionError("Connection closed by server.")]),
        io.StringIO(),
    )

    assert planview.follow(store, "p1", "text", stream, WHERE) == exits.EXIT_OK  # type: ignore[arg-type]
    assert stream.getvalue() == ""
    assert fast_backoff == [0.01]


def test_other_redis_errors_are_not_retried() -> None:
    store = _FlakyStore([redis.ResponseError("WRONGTYPE Operation against a key")])

    with pytest.raises(redis.ResponseError):
        planview.follow(store, "p1", "text", io.StringIO(), WHERE)  # type: ignore[arg-type]
    assert store.reads == 1
