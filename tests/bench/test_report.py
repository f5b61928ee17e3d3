"""The results table's CPU columns and the verdict lines of issue #13's targets."""

from __future__ import annotations

import dataclasses

import pytest

from bench.pertag import noop_plan_verdict
from bench.report import GIB, MIB, Scenario, per_gib
from bench.scenarios import ratio_verdict, verdict
from bench.shaped import cpu_verdict
from bench.tools import Sample

PLAN = "syncer plan --wait (2w)"


def sample(tool: str, wall: float, cpu: float = 0.0, moved: int = 0, gets: int = 0) -> Sample:
    return Sample(tool, wall, 1024, "process", moved, gets, True, copier_cpu_s=cpu)


def scenario(*samples: Sample, tags: int = 0) -> Scenario:
    scen = Scenario("g", "title", "target", baseline="syncer sync", tags=tags)
    for s in samples:
        scen.add(s)
    return scen


def test_per_gib_divides_copier_cpu_by_gib_moved_and_is_none_below_one_mib() -> None:
    assert per_gib(sample("x", 1.0, cpu=3.0, moved=GIB // 2)) == pytest.approx(6.0)
    assert per_gib(sample("x", 1.0, cpu=3.0, moved=0)) is None
    # A no-op that reads a few config blobs has no meaningful rate.
    assert per_gib(sample("x", 1.0, cpu=3.0, moved=MIB - 1)) is None
    assert per_gib(sample("x", 1.0, cpu=3.0, moved=MIB)) == pytest.approx(3.0 * 1024)


def test_table_has_cpu_columns_and_per_tag_only_when_tags_are_known() -> None:
    rows = scenario(sample("syncer sync", 2.0, cpu=1.5, moved=512 * MIB), tags=300).table()
    head, rule, row = rows.splitlines()
    assert head.endswith("| copier core-s | core-s/GiB | core-ms/tag |")
    assert rule.count("---") == head.count("|") - 1
    assert row.endswith("| 1.50 | 3.0 | 5.0 |")
    plain = scenario(sample("syncer sync", 2.0, cpu=1.5)).table().splitlines()
    assert "core-ms/tag" not in plain[0]
    assert plain[2].endswith("| 1.50 | – |")


def test_cpu_per_gib_is_the_median_over_runs_that_moved_bytes() -> None:
    scen = scenario(
        sample("skopeo sync", 1.0, cpu=2.0, moved=GIB),
        sample("skopeo sync", 1.0, cpu=4.0, moved=GIB),
        sample("skopeo sync", 1.0, cpu=9.0, moved=0),
    )
    assert scen.cpu_per_gib("skopeo sync") == pytest.approx(3.0)


def test_verdict_reads_met_or_missed_against_the_limit() -> None:
    assert verdict(0.42, 0.5) == "met: 0.42x (target <= 0.5x)"
    assert verdict(0.51, 0.5) == "MISSED: 0.51x (target <= 0.5x)"
    assert verdict(12.0, 30, " s", extra=False) == "MISSED: 12.00 s (target <= 30 s)"


def test_ratio_verdict_compares_median_walls_and_says_why_not_when_a_copier_is_absent() -> None:
    scen = scenario(sample("syncer sync", 2.0), sample("skopeo sync", 5.0))
    assert ratio_verdict("sync vs skopeo", scen, "syncer sync", "skopeo sync", 0.5) == (
        "sync vs skopeo: met: 0.40x (target <= 0.5x)"
    )
    assert ratio_verdict("vs image-syncer", scen, "syncer sync", "image-syncer", 0.35) == (
        "vs image-syncer: n/a (no runs of image-syncer)"
    )


def test_noop_plan_verdict_is_missed_with_any_source_manifest_get() -> None:
    fast_but_reads = scenario(sample("syncer sync", 2.0), sample(PLAN, 1.0, gets=3))
    assert noop_plan_verdict(fast_but_reads, PLAN) == (
        "plan vs sync: MISSED: 0.50x (target <= 1x), plan source manifest GETs 3"
    )
    clean = dataclasses.replace(fast_but_reads)
    clean.samples = {}
    clean.add(sample("syncer sync", 2.0))
    clean.add(sample(PLAN, 1.0))
    assert noop_plan_verdict(clean, PLAN).startswith("plan vs sync: met: 0.50x")


def test_cpu_verdict_compares_core_seconds_per_gib() -> None:
    scen = scenario(
        sample(PLAN, 1.0, cpu=5.0, moved=GIB), sample("4 x skopeo sync", 1.0, cpu=4.0, moved=GIB)
    )
    assert cpu_verdict(scen, PLAN, "4 x skopeo sync") == (
        "core-s/GiB: MISSED: 5.0 (target <= 4 x skopeo sync's 4.0)"
    )
    assert cpu_verdict(scen, "4 x skopeo sync", PLAN).startswith("core-s/GiB: met: 4.0")
