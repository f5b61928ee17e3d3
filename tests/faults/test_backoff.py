"""A 429 with ``Retry-After`` from the source pauses the whole fleet, then everything lands.

The source sits behind a :class:`ChaosProxy` that knows the two workers' pids,
so every request it logs is attributed to the worker that sent it. One blob
GET is answered ``429 Retry-After: 3``. While the pause lasts, the shared
backoff key ``syncer:backoff:<registry>`` is set in Redis and *no* worker
sends the source anything; both send requests before and after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.support.chaos import ChaosProxy
from tests.support.faults import assert_all_synced, mirror
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, plan_wait, seed_apps, write_json

pytestmark = [pytest.mark.faults, pytest.mark.integration]

RETRY_AFTER = 3
#: Allowance for requests already on the wire, and for the 200 ms the
#: throttle caches the Redis key between reads.
SLACK = 0.5
#: Most a loaded machine may take between the proxy answering 429 and the
#: worker's pause showing in Redis; a bound, not an expected figure.
LAG = 3.0


@contextmanager
def _watch_key(client: redis.Redis, key: str) -> Iterator[list[tuple[float, float]]]:
    """Sample ``key`` every 50 ms: ``(monotonic time, pause-until)`` while it exists."""
    seen: list[tuple[float, float]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            raw = client.get(key)
            if raw:
                seen.append((time.monotonic(), float(raw)))
            stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def test_429_pauses_every_worker_for_retry_after(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
) -> None:
    # 24 images: two sync_tags tasks, so both workers talk to the source early.
    images = seed_apps(
        source, 52, repos=6, tags_per_repo=4, layer_size=64 << 10, large_layer_size=0
    )
    src = make_proxy(source.host)
    limited = src.fault(
        # Late enough that both workers have asked the source for blobs before it.
        "GET",
        r"/blobs/sha256:",
        nth=9,
        status=429,
        headers={"Retry-After": str(RETRY_AFTER)},
    )
    auth = write_json(fleet_home / "auth.json", insecure(src.host, dest.host))
    rules = write_json(
        fleet_home / "images.json",
        {f"{src.host}/{i.repo}:{i.tag}": f"{dest.host}/{mirror(i.repo)}" for i in images},
    )
    fleet = workers(2, auth=auth, concurrency=2)
    pids = [w.pid for w in fleet]
    src.owners = pids

    with _watch_key(redis_client, f"syncer:backoff:{src.host}") as samples:
        run = plan_wait(syncer_cli, auth, rules)

    assert run.code == 0, run
    report = run.json
    assert_all_synced(report, dest.url, images)
    assert limited.fired == 1
    records = src.recorded()
    [hit] = [r for r in records if r.status == 429]
    # The shared pause was in Redis, for about Retry-After seconds.
    assert samples, "syncer:backoff:<registry> was never set"
    first_seen, until = samples[0]
    # The pause ends Retry-After seconds after the worker read the 429 (the key
    # holds wall-clock time): never sooner than after the refusal itself, and
    # later only by how long the worker took to read it (seconds on a loaded machine).
    refused_at = time.time() - (time.monotonic() - hit.at)
    assert RETRY_AFTER - 0.05 <= until - refused_at <= RETRY_AFTER + LAG
    assert first_seen - hit.at < LAG
    # Nobody in the fleet talked to the source while it lasted ...
    quiet = [r for r in records if hit.at + SLACK < r.at < hit.at + RETRY_AFTER - SLACK]
    assert quiet == [], [(r.method, r.path, round(r.at - hit.at, 2)) for r in quiet]
    # ... although both workers were busy with it before and after.
    before = {src.sender(r) for r in records if r.at < hit.at}
    after = {src.sender(r) for r in records if r.at >= hit.at + RETRY_AFTER - SLACK}
    assert set(pids) <= before, (pids, before)
    assert set(pids) <= after, (pids, after)
    # The refused GET itself was sent again only once the wait was over.
    again = [r for r in records if r.path == hit.path and r.method == "GET" and r.at > hit.at]
    assert again and again[0].at - hit.at >= RETRY_AFTER - 0.1
    assert any("fleet pauses it for" in w.log_text() for w in fleet)
