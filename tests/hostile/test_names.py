"""Tags a hostile source lists that are not tags: each fails alone, escaped, never requested."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostile import Pool, Reply, make_image
from tests.support.hostile_kit import dest_manifest, dest_tags, write_images
from tests.support.runner import run_syncer
from tests.support.verify import access_log

pytestmark = pytest.mark.integration

BAD = ["../../etc", "bad\nline", "esc\x1b[31mred", "a%2Fb", "x" * 200, 7]


def _unsafe(path: str) -> bool:
    return ".." in path or "%2f" in path.lower() or "%0a" in path.lower()


@pytest.mark.parametrize("proc", ["1", "4"])
def test_bad_tags_fail_alone_and_the_good_one_syncs(
    proc: str,
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    src = hostile()
    image = make_image("named")
    src.serve_image("lab/app", "good", image)

    def tags(r: Reply) -> None:
        r.send_json(200, {"name": "lab/app", "tags": [BAD[0], BAD[1], "good", *BAD[2:]]})

    src.route("GET", r"^/v2/lab/app/tags/list$", tags)
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app": f"{dst.host}/mirror/app"})
    out = run_syncer(
        ["sync", *args, "--cache", "none", "--proc", proc, "--output", "json"],
        env=env,
        deadline=60,
    )
    assert not out.killed and out.code == 1, out.text
    assert out.elapsed < 30
    report = json.loads(out.out)
    assert report["images"]["done"] == 1 and report["images"]["failed"] == len(BAD)
    escaped = {
        "../../etc",
        "bad\\nline",
        "esc\\x1b[31mred",
        "a%2Fb",
        "x" * 130 + "…",  # clipped past the longest valid tag (128)
        "7 (not a string)",
    }
    assert {f["source"] for f in report["failed"]} == {f"{src.host}/lab/app:{t}" for t in escaped}
    assert all("invalid tag" in f["reason"] for f in report["failed"])
    # Nothing a server sent reaches the terminal raw.
    assert "\x1b" not in out.text and "bad\nline" not in out.text
    # The good tag synced; the bad ones were never asked for, here or there.
    assert dest_manifest(dst.url, "mirror/app", "good") == image.manifest
    assert dest_tags(dst.url, "mirror/app") == ["good"]
    assert not [s.path for s in src.seen if _unsafe(s.path + "?" + s.query)]
    manifests = {s.path.rsplit("/", 1)[1] for s in src.requests(path="/manifests/")}
    assert manifests <= {"good", image.digest}
    assert not [a.path for a in access_log(dst) if _unsafe(a.path)]


def test_a_dry_run_reports_bad_tags_escaped(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile()
    image = make_image("dry")
    src.serve_image("lab/app", "good", image)
    src.route(
        "GET",
        r"^/v2/lab/app/tags/list$",
        lambda r: r.send_json(200, {"tags": ["good", "esc\x1b]0;title\x07", "../x"]}),
    )
    dst = registry_factory()
    args = write_images(tmp_path, {f"{src.host}/lab/app": f"{dst.host}/mirror/app"})
    out = run_syncer(["sync", *args, "--cache", "none", "--dry-run"], env=env, deadline=60)
    # Exit 1, as the real run would: it fails the two bad tags.
    assert not out.killed and out.code == 1, out.text
    assert f"copy  {src.host}/lab/app:good -> {dst.host}/mirror/app:good" in out.out
    assert f"fail  {src.host}/lab/app:esc\\x1b]0;title\\x07: " in out.out
    assert f"fail  {src.host}/lab/app:../x: " in out.out
    assert "\x1b" not in out.text and "\x07" not in out.text
    assert not [s.path for s in src.seen if _unsafe(s.path)]
    assert dest_tags(dst.url, "mirror/app") == []
