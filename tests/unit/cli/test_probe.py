"""``syncer probe worker|beat`` (syncer.cli.probe), against a real Redis."""

from __future__ import annotations

import argparse
import json
import socket

import pytest
import redis

from lab.registry import free_port
from syncer import defaults
from syncer.cli.exits import EXIT_FAILED, EXIT_OK
from syncer.cli.probe import add_probe_parser, cmd_probe, worker_alive
from syncer.errors import ConfigError
from syncer.fleet.protocol import keys
from syncer.fleet.state.roster import Roster, WorkerInfo

pytestmark = pytest.mark.integration


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="syncer")
    add_probe_parser(parser.add_subparsers())
    return parser.parse_args(["probe", *argv])


def _probe(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cmd_probe(_args(*argv))
    return code, capsys.readouterr().out.strip()


def test_a_worker_on_this_host_is_alive_once_it_beats(
    redis_server: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    here = f"celery@{socket.gethostname()}"
    code, out = _probe(capsys, "worker", "--redis", redis_server)
    assert code == EXIT_FAILED and out.startswith("probe worker: no heartbeat from *@"), out
    Roster(redis_client).beat("celery@another-host", ())
    assert _probe(capsys, "worker", "--redis", redis_server)[0] == EXIT_FAILED
    Roster(redis_client).beat(here, ("quay.io",))
    assert _probe(capsys, "worker", "--redis", redis_server) == (
        EXIT_OK,
        f"probe worker: worker {here} is alive",
    )


def test_node_names_one_worker_exactly(redis_client: redis.Redis) -> None:
    Roster(redis_client).beat("w1@pod-a", ())
    assert worker_alive(redis_client, "w1@pod-a", "elsewhere") == "w1@pod-a"
    assert worker_alive(redis_client, "w2@pod-a", "pod-a") is None
    assert worker_alive(redis_client, None, "pod-a") == "w1@pod-a"
    assert worker_alive(redis_client, None, "pod") is None  # a host name, not a suffix of one


def test_a_heartbeat_older_than_the_alive_window_fails(
    redis_server: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    Roster(redis_client).beat("w1@pod-a", ())
    assert _probe(capsys, "worker", "--node", "w1@pod-a", "--redis", redis_server)[0] == EXIT_OK
    seen = float(redis_client.time()[0]) - defaults.ALIVE_WINDOW - 1
    stale = WorkerInfo("w1@pod-a", (), seen)
    redis_client.hset(keys.roster(), "w1@pod-a", json.dumps(stale.to_dict()))
    code, out = _probe(capsys, "worker", "--node", "w1@pod-a", "--redis", redis_server)
    assert code == EXIT_FAILED and "no heartbeat from w1@pod-a in the last 15s" in out, out


def test_beat_is_alive_while_redbeats_lock_is_held(
    redis_server: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _probe(capsys, "beat", "--redis", redis_server) == (
        EXIT_FAILED,
        "probe beat: no beat holds the lock",
    )
    redis_client.set(keys.redbeat_lock(), "token", ex=30)
    assert _probe(capsys, "beat", "--redis", redis_server) == (
        EXIT_OK,
        "probe beat: a beat holds the schedule lock",
    )


def test_redis_away_fails_in_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    code, out = _probe(capsys, "worker", "--redis", url)
    assert code == EXIT_FAILED and out == "probe worker: cannot reach Redis: ConnectionError"


def test_a_bad_url_is_a_config_error_naming_it() -> None:
    with pytest.raises(
        ConfigError, match=r"Redis URL redis://\*\*\*@host:6379/x: database must be"
    ):
        cmd_probe(_args("beat", "--redis", "redis://:pw@host:6379/x"))
