"""Trees built to cost CPU or memory: repeated children, too many entries or bytes, referrer storms.

Each test runs the real CLI against a scripted source and a real
destination registry, and judges the run by what the source was asked for,
what the destination holds, the exit code, the time and the peak RSS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncer import defaults
from tests.support.hostile import Pool
from tests.support.hostile_kit import RSS_MIB, dest_tags, write_images
from tests.support.hostile_trees import (
    ManifestSource,
    referrer_storm,
    repeated_child_tree,
    wide_tree,
)
from tests.support.runner import Outcome, run_syncer

pytestmark = pytest.mark.integration

#: Seconds any of these runs may take: each ends in about one.
SECONDS = 30


def _sync(tree: ManifestSource, dst: Any, tmp: Path, env: dict[str, str], *extra: str) -> Outcome:
    args = write_images(tmp, {f"{tree.server.host}/lab/app:v1": f"{dst.host}/mirror/app"})
    out = run_syncer(["sync", *args, "--cache", "none", "-r", "0", *extra], env=env, deadline=90)
    assert not out.killed and out.elapsed < SECONDS, out.text
    assert "Traceback" not in out.err
    return out


def test_a_child_repeated_within_the_caps_is_fetched_once_and_synced(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    tree = repeated_child_tree(hostile(), "lab/app", "v1", subs=30, repeat=30)
    dst = registry_factory()
    out = _sync(tree, dst, tmp_path, env)
    assert out.code == 0, out.text
    # 30 sub-indexes, 30 images of their own, and the one shared child: each fetched once.
    assert tree.gets() == 61 and max(tree.fetched.values()) == 1, tree.fetched
    assert dest_tags(dst.url, "mirror/app") == ["v1"]


def test_an_index_repeating_one_child_40_000_times_fails_at_the_cap_per_index(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # 30 of these took 74 s of CPU and 180 MiB before any cap (a list scan per child).
    tree = repeated_child_tree(hostile(), "lab/app", "v1", subs=30, repeat=40_000)
    dst = registry_factory()
    out = _sync(tree, dst, tmp_path, env)
    assert out.code == 1, out.text
    limit = defaults.MAX_INDEX_CHILDREN
    assert f"lists 40001 manifests; at most {limit} are followed" in out.out, out.text
    assert tree.gets() == 1, "only the first sub-index was read, and none of its children"
    assert out.peak_rss_mib < RSS_MIB
    assert dest_tags(dst.url, "mirror/app") == []


def test_entries_past_the_cap_per_tree_fail_the_image_before_the_rest_is_read(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # Each sub-index lists 1,001 entries: the fifth takes the tree past 4,096.
    tree = repeated_child_tree(hostile(), "lab/app", "v1", subs=8, repeat=1000)
    assert 8 + 4 * 1001 <= defaults.MAX_TREE_CHILDREN < 8 + 5 * 1001
    dst = registry_factory()
    out = _sync(tree, dst, tmp_path, env)
    assert out.code == 1, out.text
    assert f"list more than {defaults.MAX_TREE_CHILDREN} manifests in all" in out.out, out.text
    # Five sub-indexes (the fifth refused), the images of the first four, and the shared child.
    assert tree.gets() == 5 + 4 + 1, tree.fetched
    assert dest_tags(dst.url, "mirror/app") == []


def test_a_tree_of_100_distinct_4_mb_children_fails_at_the_bytes_cap_per_image(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # Before the cap: all 100 were fetched and held, 425 MB, and the run said "synced".
    size = 3_900_000
    tree = wide_tree(hostile(lifetime=90), "lab/app", "v1", children=100, size=size)
    dst = registry_factory()
    out = _sync(tree, dst, tmp_path, env)
    assert out.code == 1, out.text
    reason = f"{tree.server.host}/lab/app:v1: its manifests pass the 64 MiB cap per image"
    assert f"{reason} ($SYNCER_MAX_TREE_BYTES); refused" in out.out, out.text
    fits = defaults.MAX_TREE_BYTES // size
    assert tree.gets() == fits + 1, "children were read only until their total passed the cap"
    assert out.peak_rss_mib < 64 + RSS_MIB
    assert dest_tags(dst.url, "mirror/app") == []


def test_200_referrers_per_subject_three_deep_stop_at_the_cap_per_image(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    # Before the cap: 58,400 referrer jobs queued, nothing pushed, still going after 120 s.
    storm = referrer_storm(hostile(), "lab/app", "v1", per_subject=200)
    dst = registry_factory()
    out = _sync(storm, dst, tmp_path, env, "--referrers")
    assert out.code == 1, out.text
    cap = defaults.MAX_IMAGE_REFERRERS
    root = f"{storm.server.host}/lab/app:v1 -> {dst.host}/mirror/app:v1"
    assert f"referrers of {root}: more than {cap} in all" in out.out, out.text
    assert f"1 synced, 0 skipped, {cap} failed (of {cap + 1})" in out.out
    # The image's list, then one subject at a time until the total passed the cap: the
    # jobs already handed out fail at once, and nothing else is asked for.
    assert storm.listed == cap // 200 + 1
    assert len(storm.server.requests()) < 3 * cap
    assert out.peak_rss_mib < RSS_MIB
    # The image itself landed; none of its referrers did, and no fallback index lists them.
    assert dest_tags(dst.url, "mirror/app") == ["v1"]
