"""Workers that die or are told to stop in the middle of a blob.

The source sits behind a bandwidth-capped relay so a transfer lasts long
enough to interrupt; the destination sits behind a store-and-forward
:class:`ChaosProxy` (as nginx in front of Harbor buffers request bodies), which
attributes every request to the worker that sent it.

* ``kill -9`` of a worker's whole process group during the second 32 MiB chunk
  of a 70 MiB layer: the message comes back after the (lowered) visibility
  timeout, the surviving worker asks the upload session what it holds and
  sends the rest, from byte 32 MiB, in the same session.
* ``SIGTERM`` during a 24 MiB upload: Celery's warm shutdown lets the blob
  finish, and the plan completes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.images import build_image_set
from syncer import defaults
from tests.support.chaos import ChaosProxy
from tests.support.faults import (
    LARGE_UPLOAD,
    assert_all_synced,
    follow_plan,
    inside_second_chunk,
    kill_group,
    mirror_config,
    wait_for,
)
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import seed, start_plan
from tests.support.tcprelay import ThrottledRelay

pytestmark = [pytest.mark.faults, pytest.mark.integration]

CHUNK = defaults.UPLOAD_CHUNK
VISIBILITY = 15


def test_kill_9_mid_chunk_resumes_on_another_worker(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    dst = make_proxy(dest.host, buffer_bodies=True)
    env = {"SYNCER_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    with inside_second_chunk(source, dst, workers, syncer_cli, fleet_home, 53, 2, env) as caught:
        first, second = dst.recorded("PATCH", LARGE_UPLOAD)[:2]
        [victim] = [w for w in caught.fleet if w.pid == dst.sender(second)]
        [survivor] = [w for w in caught.fleet if w is not victim]
        killed_at, killed = len(dst.recorded()), time.monotonic()
        kill_group(victim)

        report = follow_plan(syncer_cli, caught.plan, timeout=200)

    assert_all_synced(report, dest.url, caught.images)
    assert first.content_range() == (0, CHUNK - 1)
    assert second.content_range() == (CHUNK, 2 * CHUNK - 1) and second.status == 0
    # After the kill, the survivor asked the same session what it holds ...
    later = dst.recorded()[killed_at:]
    session = [r for r in later if re.search(LARGE_UPLOAD, r.path)]
    status = [r for r in session if r.method == "GET"]
    assert status and status[0].status == 204, session
    assert status[0].path == first.path == second.path
    assert status[0].response_headers["Range"] == f"0-{CHUNK - 1}"
    assert dst.sender(status[0]) == survivor.pid
    # Redelivery comes at most a visibility timeout after the message was handed
    # out (before the kill), and the dead holder's in-flight lock (a third of that
    # timeout here) must lapse before the take-over.
    assert 0 < status[0].at - killed < VISIBILITY + VISIBILITY / 3 + 15
    # ... and resumed there: the next chunk starts at 32 MiB, not at 0.
    patches = [r for r in session if r.method == "PATCH"]
    assert patches[0].content_range() == (CHUNK, 2 * CHUNK - 1), patches
    assert {dst.sender(p) for p in patches} == {survivor.pid}
    spans = [p.content_range() for p in patches]
    assert all(a[1] + 1 == b[0] for a, b in zip(spans, spans[1:], strict=False))  # type: ignore[index]
    assert spans[-1][1] == caught.big.size - 1  # type: ignore[index]
    assert [r.status for r in session if r.method == "PUT"] == [201]
    assert "resuming upload of" in survivor.log_text()


def test_sigterm_mid_blob_finishes_it_warmly(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    image_set = build_image_set(54, repos=2, tags_per_repo=2, large_layer_size=24 << 20)
    images = seed(source, list(image_set.images)[:5])  # app0/app1 v1+v2, large:v1
    large = image_set.get("lab/large", "v1")
    big = max(large.blobs, key=lambda b: b.size)
    dst = make_proxy(dest.host)
    upload = r"^/v2/mirror/large/blobs/uploads/[^/]+$"
    with ThrottledRelay(source.host, 8 << 20) as relay:
        auth, rules = mirror_config(fleet_home, relay.host, dst.host, images)
        fleet = workers(2, auth=auth, concurrency=2)
        dst.owners = [w.pid for w in fleet]
        plan = start_plan(syncer_cli, auth, rules)

        def big_put() -> list[object]:
            return [
                r for r in dst.recorded("PUT", upload) if big.digest in r.query.replace("%3A", ":")
            ]

        wait_for("the large upload to start", big_put, timeout=60)
        wait_for("a few MiB to flow", lambda: relay.relayed > 6 << 20, timeout=30)
        [put] = big_put()
        [stopping] = [w for w in fleet if w.pid == dst.sender(put)]  # type: ignore[arg-type]
        stopping.terminate()
        assert stopping.proc is not None
        code = stopping.proc.wait(timeout=60)

        report = follow_plan(syncer_cli, plan, timeout=120)

    assert code == 0, stopping.log_tail()
    assert_all_synced(report, dest.url, images)
    log = stopping.log_text()
    shutdown = log.index("Warm shutdown")
    # The blob in flight was finished by the worker that was told to stop ...
    assert put.status == 201  # type: ignore[attr-defined]
    assert re.search(r"Task syncer\.copy_blob\[[^\]]+\] succeeded", log[shutdown:]), log[shutdown:]
    # ... once, and nobody uploaded it again.
    assert len(big_put()) == 1
