"""A 429 from the source shows on a worker's ``/metrics``: rate limited, backed off, by registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.chaos import ChaosProxy
from tests.support.faults import mirror_config
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import plan_wait, seed_apps
from tests.support.scrape import metered_workers, scrape, total

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_a_429_is_counted_for_the_registry_that_sent_it(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    images = seed_apps(source, 53, repos=2, tags_per_repo=1, large_layer_size=0)
    src = make_proxy(source.host)
    limited = src.fault("GET", r"/blobs/sha256:", nth=1, status=429, headers={"Retry-After": "1"})
    auth, rules = mirror_config(fleet_home, src.host, dest.host, images)
    [url] = metered_workers(workers, auth, count=1)

    run = plan_wait(syncer_cli, auth, rules)

    assert run.code == 0 and run.json["images"]["done"] == len(images), run
    assert limited.fired == 1
    text = scrape(url)
    assert total(text, "syncer_rate_limited_total", registry=src.host) == 1
    assert total(text, "syncer_rate_limited_total", registry=dest.host) == 0
    assert total(text, "syncer_backoffs_total", registry=src.host, reason="throttle") == 1
    assert total(text, "syncer_backoffs_total", registry=src.host, reason="retry") >= 1
