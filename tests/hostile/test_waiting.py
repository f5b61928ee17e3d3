"""One wait budget per image and registry: silent servers and huge Retry-Afters end soon.

Before it, a silent registry cost one image five answer deadlines (5 minutes
at the default 60 s) and a 429 asking for a day four 60 s backoffs, even with
``-r 0``. Each test runs the real CLI and judges the run by how many
requests the server saw, the time, and the message naming the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostile import Pool, make_image
from tests.support.hostile_kit import RSS_MIB, always_429, silent_manifests, tags_at, write_images
from tests.support.runner import run_syncer

pytestmark = pytest.mark.integration

#: Starting Python, resolving, and a loaded machine.
SLACK = 10.0


def test_a_silent_source_costs_an_image_its_wait_budget_across_retry_rounds(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile(lifetime=90)
    src.serve_image("lab/app", "v1", make_image("silent"))
    silent_manifests(src, "lab/app")
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    env.update(SYNCER_REQUEST_DEADLINE="2", SYNCER_WAIT_BUDGET="3")

    # Two more rounds asked for: the budget holds across them.
    out = run_syncer(["sync", *args, "--cache", "none", "-r", "2"], env=env, deadline=80)

    assert not out.killed and out.code == 1, out.text
    # One full deadline, a backoff, and a second GET cut to what was left: not 3 x 5 GETs.
    assert len(src.requests("GET", "/manifests/")) == 2
    assert 3.0 <= out.elapsed < 3.0 + SLACK
    assert f"s wait budget for {src.host}, SYNCER_WAIT_BUDGET)" in out.err
    assert (
        f"gave up after 3 s of waiting on {src.host}: the wait budget of one image on one "
        "registry is 3 s (SYNCER_WAIT_BUDGET)"
    ) in out.out, out.text
    assert tags_at(dst.url, "mirror/app") == []
    assert "Traceback" not in out.err and out.peak_rss_mib < RSS_MIB


def test_a_429_asking_for_a_day_fails_the_image_at_once_naming_the_budget(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    src.serve_image("lab/app", "v1", make_image("throttled"))
    always_429(src, "lab/app", "86400")
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})

    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=80)

    assert not out.killed and out.code == 1, out.text
    assert len(src.requests(path="/manifests/")) == 1, "no retry can succeed within the budget"
    assert out.elapsed < SLACK
    assert "it asked to wait 86400 s (Retry-After); gave up after 0 s of waiting" in out.out
    assert "the wait budget of one image on one registry is 90 s (SYNCER_WAIT_BUDGET)" in out.out
    assert tags_at(dst.url, "mirror/app") == []


def test_a_short_retry_after_within_the_budget_is_waited_out_and_the_image_synced(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # The positive control: the budget fails only what cannot succeed in time.
    src = hostile()
    image = make_image("briefly throttled")
    src.serve_image("lab/app", "v1", image)
    honest = src.find("GET", "/v2/lab/app/manifests/v1")[0]
    assert honest is not None
    refused: list[str] = []

    def once(r: Any) -> None:
        if refused:
            honest(r)
            return
        refused.append(r.method)
        r.send_json(429, {"errors": [{"code": "TOOMANYREQUESTS"}]}, {"Retry-After": "1"})

    src.route("GET", r"^/v2/lab/app/manifests/", once)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    env.update(SYNCER_WAIT_BUDGET="5")

    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=80)

    assert out.code == 0, out.text
    assert refused == ["HEAD"] and out.elapsed >= 1.0
    assert tags_at(dst.url, "mirror/app") == ["v1"]
