"""Workers' ``/metrics`` and ``syncer metrics`` against real workers, Redis and registries.

Two workers serve ``/metrics`` on ports of their own while a plan runs; the
sums over both, scraped during the plan, never exceed what the plan reports
at the end, and scraped after it equal the plan's own counters from
``syncer status ID --output json``. A second plan of the same images counts
as unchanged. No credential of the auth file appears in any scrape. The
shipped Grafana dashboard reads only metrics a worker or ``syncer metrics``
exposes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from lab.images import build_image_set
from syncer.fleet.state.plans import PlanStore
from tests.support.processes import (
    REPO_ROOT,
    FlowerProcess,
    RunCli,
    WorkerFactory,
    fleet_env,
    running,
)
from tests.support.registries import LabRegistry
from tests.support.scenario import secret_forms, seed, start_plan, write_json
from tests.support.scrape import (
    MetricsProcess,
    dashboard_exprs,
    exposed,
    metered_workers,
    metric_names,
    scrape,
    total,
)

pytestmark = pytest.mark.integration

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "syncer.json"


def _fleet_counts(urls: list[str]) -> dict[str, float]:
    """The workers' counters summed, in the terms of a plan's report."""
    texts = [scrape(u) for u in urls]

    def s(sample: str, **labels: str) -> float:
        return sum(total(t, sample, **labels) for t in texts)

    return {
        "bytes": s("syncer_bytes_copied_total"),
        "synced": s("syncer_images_total", result="synced"),
        "unchanged": s("syncer_images_total", result="unchanged")
        + s("syncer_images_total", result="skipped"),
        "failed": s("syncer_images_total", result="failed"),
        "missing": s("syncer_images_total", result="failed", code="MANIFEST_UNKNOWN"),
        "blobs_done": s("syncer_blobs_total", outcome="copied")
        + s("syncer_blobs_total", outcome="mounted"),
        "blobs_mounted": s("syncer_blobs_total", outcome="mounted"),
        "blobs_present": s("syncer_blobs_total", outcome="exists"),
    }


def _plan_counts(report: dict[str, dict[str, int]]) -> dict[str, float]:
    images, blobs = report["images"], report["blobs"]
    return {
        "bytes": report["bytes"]["done"],
        "synced": images["done"],
        "unchanged": images["skipped"],
        "failed": images["failed"],
        "missing": images["failed"],  # the plan's only failure is the missing tag
        "blobs_done": blobs["done"],
        "blobs_mounted": blobs["mounted"],
        "blobs_present": blobs["skipped"],
    }


def _run_scraping(
    cli: RunCli, client: redis.Redis, auth: Path, rules: Path, urls: list[str]
) -> tuple[dict[str, float], list[dict[str, float]], int]:
    """Start a plan, scrape until it ends; the final report's counts, the scrapes, and how
    many scrapes saw the plan still running."""
    plan = start_plan(cli, auth, rules)
    store, seen, during = PlanStore(client), [], 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running_now = not store.status(plan).finished
        seen.append(_fleet_counts(urls))
        if not running_now:
            break
        during += 1
        time.sleep(0.2)
    report = cli("status", plan, "--output", "json")
    assert report.json["state"] == "finished", report
    counts = _plan_counts(report.json)
    assert report.code == (1 if counts["failed"] else 0), report
    # A worker counts an image just after Redis has it: give the last one a moment.
    settle = time.monotonic() + 5
    while seen[-1] != counts and time.monotonic() < settle:
        time.sleep(0.2)
        seen.append(_fleet_counts(urls))
    return counts, seen, during


def test_worker_metrics_match_the_plan_during_and_after_and_hold_no_credentials(
    source: LabRegistry,
    basic_registry: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_client: redis.Redis,
) -> None:
    dest = basic_registry
    assert dest.username is not None and dest.password is not None
    images = seed(source, build_image_set(15, repos=2, tags_per_repo=2).images)
    auth = write_json(
        fleet_home / "auth.json",
        {
            source.host: {"insecure": True},
            dest.host: {"insecure": True, "username": dest.username, "password": dest.password},
        },
    )
    rules = {f"{source.host}/{i.repo}:{i.tag}": f"{dest.host}/mirror/{i.repo}" for i in images}
    rules[f"{source.host}/{images[0].repo}:no-such-tag"] = f"{dest.host}/mirror/missing"
    rules_path = write_json(fleet_home / "images.json", rules)
    urls = metered_workers(workers, auth)
    assert _fleet_counts(urls) == dict.fromkeys(_fleet_counts(urls), 0.0)

    first, seen, during = _run_scraping(syncer_cli, redis_client, auth, rules_path, urls)
    assert during >= 1, "no scrape happened while the plan ran"
    for earlier, later in zip(seen, seen[1:], strict=False):
        assert all(earlier[k] <= later[k] for k in earlier), (earlier, later)
    assert all(scraped[k] <= first[k] for scraped in seen for k in first), (seen, first)
    assert first["synced"] == len(images) and first["failed"] == 1 and first["bytes"] > 0
    assert first["blobs_done"] > 0
    assert seen[-1] == first

    second, _, _ = _run_scraping(syncer_cli, redis_client, auth, rules_path, urls)
    assert second["unchanged"] == len(images) and second["synced"] == 0
    after = _fleet_counts(urls)
    assert after == {k: first[k] + second[k] for k in first}, (after, first, second)

    text = "\n".join(scrape(u) for u in urls)
    for secret in secret_forms(dest.username, dest.password):
        assert secret not in text
    assert f'destination="{dest.host}"' in text and f'source="{source.host}"' in text
    assert "syncer_task_duration_seconds_count" in text and "syncer.sync_tags" in text


def test_the_dashboard_reads_only_metrics_a_worker_or_syncer_metrics_exposes(
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    redis_server: str,
) -> None:
    image = seed(source, build_image_set(16, repos=1, tags_per_repo=1).images)[0]
    auth = write_json(
        fleet_home / "auth.json", {h: {"insecure": True} for h in (source.host, dest.host)}
    )
    rules = write_json(
        fleet_home / "images.json", {f"{source.host}/{image.repo}:{image.tag}": f"{dest.host}/m/a"}
    )
    [url] = metered_workers(workers, auth, count=1)
    done = syncer_cli("plan", "--auth", auth, "--images", rules, "--wait")
    assert done.code == 0, done
    env = fleet_env(redis_server, fleet_home)
    with running(MetricsProcess(env, fleet_home / "metrics.log")) as gauges:
        plan_text = scrape(gauges.url)
    names = exposed(scrape(url)) | exposed(plan_text)
    exprs = dashboard_exprs(DASHBOARD)
    assert len(exprs) >= 8
    for expr in exprs:
        wanted = metric_names(expr)
        assert wanted, f"no metric in {expr!r}"
        assert wanted <= names, (expr, wanted - names)
    assert total(plan_text, "syncer_plans", state="finished") == 1
    assert total(plan_text, "syncer_plan_images", result="synced") == 1
    assert total(plan_text, "syncer_queue_depth") == 0
    assert total(plan_text, "syncer_redis_up") == 1


def test_flowers_own_metrics_stay_available(flower: FlowerProcess) -> None:
    resp = flower.get("/metrics")
    assert resp.status_code == 200, resp.text[:300]
    assert "flower_events_total" in exposed(resp.text)
