"""10% random 5xx and connection resets on all registry traffic: every image still lands.

A :class:`ChaosProxy` sits in front of the source and one in front of the
destination. Seeded :class:`RandomFault` rules answer 503, reset the
connection before forwarding, or reset a blob download mid-body. Both the
embedded ``syncer sync`` and a distributed plan with two workers must end with
100% of the images synced and verified at the destination with plain HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab.images import SeedImage, build_image_set
from tests.support.chaos import ChaosProxy, RandomFault
from tests.support.faults import assert_settled, verify_synced
from tests.support.processes import RunCli, WorkerFactory, run_cli
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, plan_wait, seed, write_json
from tests.support.verify import RegistryReader

pytestmark = [pytest.mark.faults, pytest.mark.integration]

#: Fault rates per matching request; 5% + 5% of everything is ~10% of all traffic.
SERVER_ERRORS = 0.05
RESETS = 0.05
#: On top: a fifth of blob downloads break mid-body (the source read resumes).
MID_BODY = 0.2


def _images() -> list[SeedImage]:
    image_set = build_image_set(
        51, repos=2, tags_per_repo=2, layer_size=48 << 10, large_layer_size=2 << 20
    )
    wanted = [i for i in image_set.images if i.repo != "lab/multi" or i.tag in ("list", "nested")]
    return wanted


def _rules(src: str, dst: str) -> dict[str, str]:
    rules = {f"{src}/lab/app{r}": f"{dst}/mirror/app{r}" for r in range(2)}  # listed, with faults
    rules[f"{src}/lab/large:v1"] = f"{dst}/mirror/large"
    rules[f"{src}/lab/multi:list,nested"] = f"{dst}/mirror/multi"
    return rules


def _chaos(proxy: ChaosProxy, seed: int) -> list[RandomFault]:
    rules = [
        RandomFault("*", r"^/v2/", status=503, probability=SERVER_ERRORS, seed=seed),
        RandomFault("*", r"^/v2/", reset=True, probability=RESETS, seed=seed + 1),
        RandomFault(
            "GET",
            r"/blobs/sha256:",
            reset_response_after=20_000,
            probability=MID_BODY,
            seed=seed + 2,
        ),
    ]
    for rule in rules:
        proxy.add(rule)
    return rules


def _setup(
    source: LabRegistry, dest: LabRegistry, make_proxy: Callable[..., ChaosProxy], seed_: int
) -> tuple[list[SeedImage], ChaosProxy, ChaosProxy, list[RandomFault]]:
    images = seed(source, _images())
    src, dst = make_proxy(source.host), make_proxy(dest.host)
    return images, src, dst, _chaos(src, seed_) + _chaos(dst, seed_ + 10)


def _check(
    report: dict[str, object],
    images: list[SeedImage],
    dest: LabRegistry,
    rules: list[RandomFault],
) -> None:
    assert_settled(report)  # type: ignore[arg-type]
    assert report["failed"] == [], report["failed"]
    assert report["images"] == {
        "total": len(images),
        "done": len(images),
        "skipped": 0,
        "failed": 0,
    }
    with RegistryReader(dest.url) as reader:
        verify_synced(reader, images)
    fired = sum(r.fired for r in rules)
    seen = sum(r.seen for r in rules[:2]) + sum(r.seen for r in rules[3:5])
    # The chaos was real: on the order of one request in ten failed on each side.
    assert fired >= 15, [(r.label, r.seen, r.fired) for r in rules]
    assert all(r.fired for r in (rules[0], rules[1], rules[3], rules[4])), rules
    assert seen > 100


def test_embedded_sync_survives_random_faults(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    cli_env: dict[str, str],
    fleet_home: Path,
) -> None:
    images, src, dst, rules = _setup(source, dest, make_proxy, 500)
    auth = write_json(fleet_home / "auth.json", insecure(src.host, dst.host))
    rules_file = write_json(fleet_home / "images.json", _rules(src.host, dst.host))

    run = run_cli(
        ["sync", "--auth", auth, "--images", rules_file, "--output", "json", "--cache", "none"],
        cli_env,
        timeout=150,
    )

    assert run.code == 0, run
    assert "Traceback" not in run.err
    _check(run.json, images, dest, rules)


def test_distributed_plan_survives_random_faults(
    source: LabRegistry,
    dest: LabRegistry,
    make_proxy: Callable[..., ChaosProxy],
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    images, src, dst, rules = _setup(source, dest, make_proxy, 700)
    auth = write_json(fleet_home / "auth.json", insecure(src.host, dst.host))
    rules_file = write_json(fleet_home / "images.json", _rules(src.host, dst.host))
    fleet = workers(2, auth=auth, concurrency=3)

    run = plan_wait(syncer_cli, auth, rules_file)

    assert run.code == 0, run
    _check(run.json, images, dest, rules)
    for worker in fleet:
        # Small blobs go out in per-image copy_blobs batches, faults included.
        assert "Task syncer.copy_blobs[" in worker.log_text(), f"{worker.node} copied nothing"
        assert "Traceback" not in worker.log_text(), worker.log_tail(80)
