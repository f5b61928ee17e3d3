"""A worker pauses its intake while its link carries a large blob and a peer's link is idle.

The unit tests stand in for Celery's consumer; the last test runs real workers.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from lab.images import build_image_set
from syncer.fleet.protocol import keys
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, plan_wait, seed, verify_all, write_json
from tests.support.verify import RegistryReader
from tests.support.waiting import wait_for
from workers import intake, links

SMALL, LARGE = 1 << 20, links.LARGE_BLOB
ME, PEER = "w1@host1", "w2@host2"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def pause() -> bool:
        seen.append("pause")
        return True

    monkeypatch.setattr(intake, "pause", pause)
    monkeypatch.setattr(intake, "resume", lambda: seen.append("resume"))
    return seen


def _alive(client: redis.Redis, *names: str) -> None:
    client.zadd(keys.links_alive(), dict.fromkeys(names, time.time()))


def test_first_large_stream_pauses_and_the_last_resumes(
    redis_client: redis.Redis, calls: list[str]
) -> None:
    _alive(redis_client, ME, PEER)
    with links.streaming(LARGE, redis_client, ME, pause_intake=True):
        assert calls == ["pause"]
        with links.streaming(LARGE, redis_client, ME, pause_intake=True):
            pass
        assert calls == ["pause"], "still streaming one large blob"
    assert calls == ["pause", "resume"]


def test_no_pause_without_an_idle_peer(redis_client: redis.Redis, calls: list[str]) -> None:
    _alive(redis_client, ME)  # a fleet of one
    with links.streaming(LARGE, redis_client, ME, pause_intake=True):
        pass
    _alive(redis_client, PEER)
    redis_client.zadd(keys.links_busy(), {PEER: time.time()})  # the peer's link is busy too
    with links.streaming(LARGE, redis_client, ME, pause_intake=True):
        pass
    assert calls == []


def test_small_streams_never_pause(redis_client: redis.Redis, calls: list[str]) -> None:
    _alive(redis_client, ME, PEER)
    with links.streaming(SMALL, redis_client, ME, pause_intake=True):
        pass
    assert calls == []


def test_a_failed_stream_still_resumes(redis_client: redis.Redis, calls: list[str]) -> None:
    _alive(redis_client, ME, PEER)
    with pytest.raises(RuntimeError):
        with links.streaming(LARGE, redis_client, ME, pause_intake=True):
            raise RuntimeError("stream broke")
    assert calls == ["pause", "resume"]
    assert redis_client.zscore(keys.links_busy(), ME) is None


def test_alive_is_rate_limited(redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links, "_last_alive", -links.ALIVE_EVERY)
    links.alive(redis_client, ME)
    first = redis_client.zscore(keys.links_alive(), ME)
    assert first is not None and abs(first - time.time()) < 5
    redis_client.zrem(keys.links_alive(), ME)
    links.alive(redis_client, ME)  # within ALIVE_EVERY: not written again
    assert redis_client.zscore(keys.links_alive(), ME) is None


def test_intake_outside_a_worker_is_a_no_op() -> None:
    assert intake.pause() is False
    intake.resume()


def test_the_pause_ends_when_no_peer_is_idle_any_more(
    redis_client: redis.Redis, calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(links, "ALIVE_EVERY", 0.05)
    _alive(redis_client, ME, PEER)
    with links.streaming(LARGE, redis_client, ME, pause_intake=True):
        assert calls == ["pause"]
        redis_client.zadd(keys.links_busy(), {PEER: time.time()})  # the peer got a large blob
        wait_for("a resume once no peer is idle", lambda: calls != ["pause"], 5, interval=0.02)
        assert calls == ["pause", "resume"], "still paused with no idle peer"
    assert calls == ["pause", "resume"], "resumed once only"


@pytest.mark.integration
def test_real_workers_pause_while_one_streams_a_large_blob(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(13, repos=4, tags_per_repo=2, large_layer_size=LARGE + 1)
    images = seed(
        source, [i for i in image_set.images if i.repo.startswith(("lab/app", "lab/large"))]
    )
    mirror = {i.repo: i.repo.replace("lab/", "mirror/", 1) for i in images}
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    rules = write_json(
        fleet_home / "images.json",
        {f"{source.host}/{repo}": f"{dest.host}/{m}" for repo, m in mirror.items()},
    )
    fleet = workers(2, auth=auth, concurrency=3)

    run = plan_wait(syncer_cli, auth, rules, timeout=90)

    assert run.code == 0, run
    with RegistryReader(dest.url) as reader:
        verify_all(reader, [(mirror[i.repo], i.tag, i.digest) for i in images])
    logs = [w.log_text() for w in fleet]
    paused = [log for log in logs if "Canceling queue celery" in log]
    assert len(paused) == 1, "exactly the worker with the large blob pauses"
    [log] = paused
    assert "Task syncer.copy_blob[" in log, "the paused worker is the one streaming the large blob"
    assert log.index("Canceling queue celery") < log.rindex("Started consuming from celery")
