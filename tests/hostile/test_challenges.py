"""Auth answers built to cost: a flood of challenge lines, token lifetimes that are not numbers.

Any registry in a config can send these, on its first ``GET /v2/`` and
without credentials. Each test runs the real CLI and judges it by the time,
the exit code and message, and the token requests the server saw.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncer import defaults
from tests.support.hostile import Pool, make_image
from tests.support.hostile_kit import (
    RSS_MIB,
    bearer_everywhere,
    challenge_flood,
    dest_manifest,
    write_images,
)
from tests.support.runner import run_syncer

pytestmark = pytest.mark.integration


def test_a_flood_of_long_challenge_lines_is_refused_unread_at_once(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # Twenty 60,000-character tokens without '=': the old regex needed minutes per line.
    src = hostile()
    challenge_flood(src, lines=20, length=60_000)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=60)
    assert not out.killed and out.code == 1, out.text
    assert out.elapsed < 10 and out.peak_rss_mib < RSS_MIB
    assert f"at most {defaults.MAX_CHALLENGE} are read" in out.out, out.text
    assert [s.path for s in src.requests()] == ["/v2/"], "refused, not retried"
    assert "Traceback" not in out.err


def test_a_challenge_flood_never_keeps_sigterm_from_stopping_a_run(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # Many images, each source refusing with the flood: the run keeps parsing
    # challenges, and a signal must still end it within seconds.
    src = hostile()
    challenge_flood(src, lines=20, length=60_000)
    dst = registry_factory()
    rules = {f"{src.host}/lab/app{n}:v1": f"{dst.host}/mirror/app{n}" for n in range(200)}
    args = write_images(tmp_path, rules)
    out = run_syncer(
        ["sync", *args, "--cache", "none", "-r", "0"], env=env, deadline=60, signal_after=2
    )
    assert not out.killed, out.text
    assert out.code in (1, 128 + signal.SIGTERM) and out.elapsed < 10, out.text


@pytest.mark.parametrize("expires_in", ["NaN", "1e400", "-Infinity"])
def test_a_token_lifetime_that_is_no_finite_number_fetches_one_token_that_expires(
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
    expires_in: str,
) -> None:
    src = hostile()
    image = make_image("tokens")
    src.serve_image("lab/app", "v1", image)
    issuer = bearer_everywhere(src, expires_in)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0", "-v"], env=env, deadline=60)
    assert out.code == 0, out.text
    assert dest_manifest(dst.url, "mirror/app", "v1") == image.manifest
    # One pull token for every request of the image: NaN fetched one per request.
    authorized = [s for s in src.requests() if s.headers.get("Authorization")]
    assert issuer.issued == 1 and len(authorized) >= 4, authorized
    # And it expires: the spec's default lifetime, not "never" (1e400 is infinity).
    assert f"(lifetime {defaults.TOKEN_LIFETIME:.0f}s)" in out.err
