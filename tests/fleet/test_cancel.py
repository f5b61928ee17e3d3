"""``syncer cancel`` against a busy fleet: streams stop, queued tasks do nothing.

The source sits behind a bandwidth-capped relay so that a 150 MiB layer is
still streaming when the plan is cancelled; three destinations share that
layer, so two more copy tasks are queued behind its in-flight lock.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import redis

from lab.images import build_image_set
from syncer.fleet.state.plans import PlanStore
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import (
    insecure,
    mounts_of,
    seed,
    start_plan,
    uploads_of,
    write_json,
    writes_since,
)
from tests.support.tcprelay import ThrottledRelay
from tests.support.verify import RegistryReader, access_log, verify_image
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

LARGE = 150 << 20
#: Source bandwidth through the relay: the large layer would take ~7 s.
RATE = 20 << 20


def _settled(relay: ThrottledRelay, quiet: float = 1.5) -> bool:
    """Whether no source bytes flowed for ``quiet`` seconds (blocks that long)."""
    before = relay.relayed
    time.sleep(quiet)
    return relay.relayed == before


def test_cancel_stops_streams_and_drops_queued_tasks(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
) -> None:
    image_set = build_image_set(13, repos=1, tags_per_repo=1, large_layer_size=LARGE)
    large, small = image_set.get("lab/large", "v1"), image_set.get("lab/app0", "v1")
    seed(source, [large, small])
    big = max(large.blobs, key=lambda b: b.size)
    expected = {f"mirror/large{n}": large.digest for n in (1, 2, 3)}
    expected["mirror/app0"] = small.digest
    with ThrottledRelay(source.host, RATE) as relay:
        auth = write_json(fleet_home / "auth.json", insecure(relay.host, dest.host))
        images = write_json(
            fleet_home / "images.json",
            {
                # One big layer for three repos: two copy tasks wait on the in-flight lock.
                f"{relay.host}/lab/large:v1": [f"{dest.host}/mirror/large{n}" for n in (1, 2, 3)],
                f"{relay.host}/lab/app0:v1": f"{dest.host}/mirror/app0",
            },
        )
        fleet = workers(2, auth=auth, concurrency=2)
        plan = start_plan(syncer_cli, auth, images)
        store = PlanStore(redis_client)
        wait_for(
            "the large layer to start streaming",
            lambda: store.status(plan).counters["bytes_done"] > 0,
            timeout=30,
        )
        # Positive control: while the plan runs, the watches below see source
        # bytes and destination writes, within `seen` seconds. The quiet spells
        # after the cancel last at least twice that, so a slow machine cannot
        # pass them by being slow.
        mark, flowed = len(access_log(dest.server)), relay.relayed
        began = time.monotonic()
        wait_for(
            "source bytes and a destination write while the plan runs",
            lambda: relay.relayed > flowed and writes_since(dest.server, mark),
            timeout=30,
        )
        seen = time.monotonic() - began
        quiet = max(3.0, 2 * seen)

        asked = time.monotonic()
        cancel = syncer_cli("cancel", plan)
        status = syncer_cli("status", plan, "--output", "json")
        answered = time.monotonic() - asked
        spell = max(1.5, 2 * seen)
        began = time.monotonic()
        wait_for("source streams to stop", lambda: _settled(relay, spell), timeout=10 + spell)
        stopped = time.monotonic() - began

        time.sleep(max(0.0, asked + 4.0 - time.monotonic()))  # busy copies re-check after 2 s
        mark, flowed = len(access_log(dest.server)), relay.relayed
        time.sleep(quiet)
        late_writes, late_bytes = writes_since(dest.server, mark), relay.relayed - flowed

    assert cancel.code == 0 and cancel.out.strip() == f"cancelled {plan}", cancel
    assert status.code == 1, status
    assert status.json["state"] == "cancelled" and answered < 10
    flowed_for = stopped - spell  # the last check's quiet spell came after the flow stopped
    assert flowed_for < 6.5, f"source bytes still flowed {flowed_for:.1f}s after the cancel"
    assert late_writes == [] and late_bytes == 0, "queued tasks kept working after the cancel"
    assert store.status(plan).counters["bytes_done"] < LARGE
    assert relay.relayed < big.size
    # The big layer never completed, was never mounted, and no large tag was pushed.
    assert [a for a in uploads_of(dest.server, big.digest) if a.method == "PUT"] == []
    assert mounts_of(dest.server, big.digest) == []
    assert not [
        a
        for a in access_log(dest.server)
        if a.method == "PUT" and re.match(r"/v2/mirror/large\d/manifests/", a.path)
    ]
    # Whatever tags exist point at complete images.
    with RegistryReader(dest.url) as reader:
        for repo, digest in expected.items():
            for tag in reader.tags(repo):
                verify_image(reader, repo, tag, digest)
            if repo.startswith("mirror/large"):
                assert reader.blob_status(repo, big.digest) == 404
    cancelled = sum(w.log_text().count("'cancelled'") for w in fleet)
    assert cancelled >= 2, "the copies waiting on the lock did not end as cancelled"
    queues = [k for k in redis_client.scan_iter("celery*") if redis_client.type(k) == b"list"]
    assert sum(redis_client.llen(k) for k in queues) == 0, "tasks left in the queue"
