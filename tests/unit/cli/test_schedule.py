"""``syncer beat``'s command line, and ``syncer plans``' table, without any server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

import syncer.cli.supervise
from syncer.cli import history, main, schedule
from syncer.errors import ConfigError

Started = list[tuple[Sequence[str], Mapping[str, str]]]


@pytest.fixture
def supervised(monkeypatch: pytest.MonkeyPatch) -> Started:
    """The beat commands that would have been started."""
    started: Started = []

    def supervise(argv: Sequence[str], env: Mapping[str, str]) -> int:
        started.append((argv, env))
        return 0

    monkeypatch.setattr(syncer.cli.supervise, "supervise", supervise)
    return started


def test_beat_runs_celery_beat_with_redbeat(supervised: Started) -> None:
    args = main.build_parser().parse_args(["beat", "--redis", "redis://:pw@h:6379/2"])
    assert schedule.cmd_beat(args) == 0
    [(argv, env)] = supervised
    assert argv[1:6] == ["-m", "celery", "-A", "workers.beat", "beat"]
    assert ["--scheduler", "redbeat.RedBeatScheduler"] == argv[argv.index("--scheduler") :][:2]
    assert ["--max-interval", "5"] == argv[argv.index("--max-interval") :][:2]
    # The URL goes by environment: a password in argv would show in ps.
    assert env["SYNCER_REDIS_URL"] == "redis://:pw@h:6379/2"
    assert not any("pw" in word for word in argv)


def test_beat_refuses_a_bad_redis_url_before_starting(supervised: Started) -> None:
    args = main.build_parser().parse_args(["beat", "--redis", "redis://:pw@h:port/0"])
    with pytest.raises(ConfigError, match=r"Redis URL redis://\*\*\*@h:port/0: URL has an invalid"):
        schedule.cmd_beat(args)
    assert supervised == []


def test_the_plans_table_pads_columns(capsys: pytest.CaptureFixture[str]) -> None:
    history.print_table([("A", "BB"), ("ccc", "d")])
    assert capsys.readouterr().out == "A    BB\nccc  d\n"
    assert history.when(None) == "-" and history.when(0) == "1970-01-01 00:00:00Z"
