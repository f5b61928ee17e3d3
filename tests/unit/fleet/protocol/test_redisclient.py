"""The fleet's one Redis client policy (fleet.protocol.redisclient), on real ``redis-server``s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.connection import Connection

from syncer.fleet.beat import beat_config
from syncer.fleet.protocol import redisclient, settings
from syncer.fleet.protocol.redisclient import (
    REDIS_CONNECT_TIMEOUT,
    REDIS_RETRIES,
    REDIS_SOCKET_TIMEOUT,
)
from tests.support.redis_away import stopped_redis

pytestmark = pytest.mark.integration


def test_every_client_gets_the_policy(redis_server: str) -> None:
    client = redisclient.connect(redis_server)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == REDIS_SOCKET_TIMEOUT
    assert kwargs["socket_connect_timeout"] == REDIS_CONNECT_TIMEOUT
    assert client.get_retry().get_retries() == REDIS_RETRIES  # type: ignore[union-attr]
    config = settings.celery_config(redis_server)
    transport = config["broker_transport_options"]
    assert transport["socket_timeout"] == REDIS_SOCKET_TIMEOUT
    assert transport["retry_on_timeout"] is False
    assert config["redis_socket_timeout"] == REDIS_SOCKET_TIMEOUT
    redbeat = beat_config(redis_server)["redbeat_redis_options"]
    assert redbeat["retry"].get_retries() == REDIS_RETRIES
    assert client.ping()


def test_a_call_to_a_redis_that_is_down_tries_once_more_not_ten_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    original = Connection._connect

    def counted(self: Connection) -> object:
        attempts.append(1)
        return original(self)

    with stopped_redis(tmp_path) as gone:
        client = redisclient.connect(_url(gone))
        monkeypatch.setattr(Connection, "_connect", counted)
        with pytest.raises(redis.ConnectionError):
            client.get("k")
    assert len(attempts) == REDIS_RETRIES + 1, "redis-py's default would be 11"


def _url(client: redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://:{kw['password']}@{kw['host']}:{kw['port']}/1"


def test_an_outage_is_one_line_each_way() -> None:
    said: list[str] = []
    outage = redisclient.Outage("Redis at x", said.append)

    outage.began(redis.ConnectionError("refused"))
    outage.began(redis.ConnectionError("refused"))
    assert outage.ongoing
    outage.ended()
    outage.ended()

    assert said == [
        f"Redis at x unreachable (ConnectionError); trying again every "
        f"{redisclient.REDIS_RECONNECT_MAX:g}s at most",
        "Redis at x is back after 0s",
    ]


def test_reconnect_delays_double_to_their_cap() -> None:
    delays = redisclient.reconnect_delays()
    taken = [next(delays) for _ in range(8)]
    assert taken[0] == redisclient.REDIS_RECONNECT_FIRST
    assert taken[1] == 2 * taken[0] and taken[-1] == redisclient.REDIS_RECONNECT_MAX


@pytest.fixture
def evicting(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """The session's Redis with an evicting policy, put back afterwards."""
    before = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        yield redis_client
    finally:
        redis_client.config_set("maxmemory-policy", before)


def test_an_evicting_redis_is_named_a_risk(evicting: redis.Redis) -> None:
    risk = redisclient.eviction_risk(evicting)
    assert "'allkeys-lru'" in risk and "noeviction" in risk and "lost" in risk


def test_noeviction_and_an_unreadable_policy_are_not(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    assert redis_client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert redisclient.eviction_risk(redis_client) == ""
    with stopped_redis(tmp_path) as gone:
        assert redisclient.eviction_risk(gone) == ""


def test_an_unreachable_redis_is_named_with_what_to_do() -> None:
    error = redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
    line = redisclient.unreachable("redis://***@127.0.0.1:1/0", error, "hunter2")
    assert line == (
        "cannot reach Redis at redis://***@127.0.0.1:1/0 (Error 111 connecting to 127.0.0.1:1. "
        "Connection refused.): start one (redis-server, or docker compose up -d redis) "
        "or point SYNCER_REDIS_URL (or --redis) at yours"
    )


@pytest.mark.parametrize(
    "error",
    [
        redis.AuthenticationError("invalid username-password pair or user is disabled."),
        redis.ResponseError("WRONGPASS invalid username-password pair (was hunter2)"),
    ],
)
def test_a_refused_login_points_at_the_password(error: redis.RedisError) -> None:
    line = redisclient.unreachable("redis://***@10.0.0.1:6379/0", error, "hunter2")
    assert line.startswith("Redis at redis://***@10.0.0.1:6379/0 refused the login (")
    assert line.endswith(
        "): check the password in the URL (SYNCER_REDIS_URL, SYNCER_REDIS_URL_FILE or --redis)"
    )
    assert "hunter2" not in line and "***" in line
