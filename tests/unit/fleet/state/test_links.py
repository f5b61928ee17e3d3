"""The fleet's view of its workers' links, on a real Redis; Redis away loses advice, no more."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from syncer.fleet.protocol import keys
from syncer.fleet.state.links import PEER_ALIVE_WINDOW, Links
from tests.support.redis_away import stopped_redis

ME, PEER, OLD = "w1@host1", "w2@host2", "w3@host3"


def test_an_announced_peer_is_idle_until_its_link_is_busy(redis_client: redis.Redis) -> None:
    links = Links(redis_client)
    links.announce(ME, large=True)
    assert links.idle_peer(ME) is None, "only me, and busy"
    links.announce(PEER, large=False)
    assert links.idle_peer(ME) == PEER
    assert links.idle_peer(PEER) is None, "my link is busy"
    links.free(ME)
    assert links.idle_peer(PEER) == ME
    links.announce(PEER, large=True)
    assert links.idle_peer(ME) is None
    assert redis_client.zscore(keys.links_busy(), PEER) is not None


def test_a_peer_not_heard_from_is_not_idle(redis_client: redis.Redis) -> None:
    redis_client.zadd(keys.links_alive(), {OLD: time.time() - PEER_ALIVE_WINDOW - 1})
    assert Links(redis_client).idle_peer(ME) is None


def test_redis_away_means_no_idle_peer(tmp_path: Path) -> None:
    with stopped_redis(tmp_path) as gone:
        links = Links(gone)
        links.announce(ME, large=True)  # no error: a copy never fails over link state
        links.free(ME)
        assert links.idle_peer(ME) is None
