"""``syncer webhook``: a real docker-registry notifies it, real workers copy, nobody runs plan."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lab.images import ImageSet
from lab.registry import free_port
from tests.support.embedded import seed
from tests.support.mirror import config_file, digest_of, put_as
from tests.support.processes import WorkerFactory
from tests.support.registries import LabRegistry, RegistryFactory
from tests.support.scrape import scrape, total
from tests.support.webhook import WebhookProcess, notify_endpoint

pytestmark = pytest.mark.integration

#: How long a pushed tag may take to reach the destination.
SYNC_DEADLINE = 60.0


@pytest.fixture
def secret() -> str:
    """The webhook's shared secret."""
    return secrets.token_urlsafe(24)


@pytest.fixture
def hook_port() -> int:
    """The webhook's port, known before the registry that notifies it starts."""
    return free_port()


@pytest.fixture
def notifying_source(registry_factory: RegistryFactory, hook_port: int, secret: str) -> LabRegistry:
    """A source registry whose notifications go to the webhook."""
    url = f"http://127.0.0.1:{hook_port}/webhook"
    return LabRegistry(registry_factory(notify=[notify_endpoint(url, secret)]))


def _wait_for(registry: LabRegistry, repo: str, tag: str, digest: str) -> float:
    """Seconds until ``repo:tag`` holds ``digest`` at ``registry`` (fails after the deadline)."""
    start = time.monotonic()
    while time.monotonic() - start < SYNC_DEADLINE:
        if digest_of(registry, repo, tag) == digest:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{repo}:{tag} did not reach {registry.host} in {SYNC_DEADLINE}s")


@pytest.fixture
def webhook(
    notifying_source: LabRegistry,
    dest: LabRegistry,
    redis_server: str,
    fleet_home: Path,
    hook_port: int,
    secret: str,
) -> Iterator[WebhookProcess]:
    """``syncer webhook`` with rules for lab/app0 (every tag) and lab/app1:v1 only."""
    s, d = notifying_source.host, dest.host
    images = {f"{s}/lab/app0": f"{d}/mirror/app0", f"{s}/lab/app1:v1": f"{d}/mirror/app1"}
    config = config_file(fleet_home / "config.yaml", images, notifying_source, dest)
    hook = WebhookProcess(redis_server, fleet_home, config, secret, hook_port)
    hook.start()
    try:
        hook.wait_ready()
        yield hook
    finally:
        hook.stop()


def test_a_pushed_tag_reaches_the_destination_through_the_workers(
    notifying_source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    webhook: WebhookProcess,
    workers: WorkerFactory,
    fleet_home: Path,
) -> None:
    workers(2, auth=fleet_home / "config.yaml")
    v1 = image_set.get("lab/app0", "v1")
    put_as(notifying_source, v1, "lab/app0", "v1")
    first = _wait_for(dest, "mirror/app0", "v1", v1.digest)
    # A second push, timed alone: the first one paid for worker warm-up.
    v2 = image_set.get("lab/app0", "v2")
    put_as(notifying_source, v2, "lab/app0", "v2")
    latency = _wait_for(dest, "mirror/app0", "v2", v2.digest)
    print(f"push-to-synced: first {first:.2f}s, second {latency:.2f}s")
    # Outside the rules: a repository none names, and a tag lab/app1's rule does not list.
    seed(notifying_source, image_set, "lab/app2:v1", "lab/app1:v2")
    put_as(notifying_source, v2, "lab/app0", "v3")  # the positive control, pushed after them
    _wait_for(dest, "mirror/app0", "v3", v2.digest)
    assert digest_of(dest, "mirror/app1", "v2") == ""
    assert requests.get(f"{dest.url}/v2/lab/app2/tags/list", timeout=10).status_code == 404
    metrics = scrape(f"{webhook.url}/metrics")
    assert total(metrics, "syncer_webhook_events_accepted_total") >= 3
    assert total(metrics, "syncer_webhook_events_ignored_total", reason="no_rule") >= 1
    assert total(metrics, "syncer_webhook_events_ignored_total", reason="filtered") >= 1
    assert total(metrics, "syncer_webhook_events_ignored_total", reason="not_a_push") >= 1
    assert total(metrics, "syncer_webhook_plans_started_total") >= 2
    assert total(metrics, "syncer_webhook_push_to_synced_seconds_count") >= 2


def test_requests_without_the_secret_are_refused_and_never_logged(
    webhook: WebhookProcess, secret: str
) -> None:
    body = {"repository": "lab/app0", "tag": "v1"}
    hook = f"{webhook.url}/webhook"
    assert requests.post(hook, json=body, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 32}
    assert requests.post(hook, json=body, headers=wrong, timeout=10).status_code == 401
    assert requests.post(f"{hook}/not-the-secret", json=body, timeout=10).status_code == 401
    by_path = requests.post(f"{hook}/{secret}", json=body, timeout=10)
    assert by_path.status_code == 202 and by_path.json()["queued"] == 1
    by_header = requests.post(hook, json=body, headers={"X-Syncer-Secret": secret}, timeout=10)
    assert by_header.status_code == 202
    huge = requests.post(
        hook, data=b"x" * (300 << 10), headers={"X-Syncer-Secret": secret}, timeout=10
    )
    assert huge.status_code == 413
    bad = requests.post(hook, data=b"{", headers={"X-Syncer-Secret": secret}, timeout=10)
    assert bad.status_code == 400 and bad.json() == {"error": "the body is not JSON"}
    assert requests.get(f"{webhook.url}/healthz", timeout=10).text == "ok\n"
    time.sleep(0.2)  # the access log line of the last request
    assert secret not in webhook.log_text()
    assert "/webhook/***" in webhook.log_text()
