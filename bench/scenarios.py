"""Scenarios (a) cold sync on loopback and (d) no-op resync, plus shared helpers.

Each copier gets a freshly wiped destination for its cold run; its no-op run
follows at once on what the cold run left behind, so (a) and (d) share runs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from bench import profiling
from bench.context import Bench
from bench.imagesyncer import TOOL, image_syncer
from bench.report import Scenario
from bench.tools import Sample, skopeo_sync, syncer_plan, syncer_sync

log = logging.getLogger(__name__)

#: skopeo 1.9 stops at a nested index ("Unexpectedly received a manifest list
#: instead of a manifest for a single image"); that tag is expected to be missing.
SKOPEO_UNSUPPORTED = "lab/multi:nested"
#: image-syncer v1.5.5 rewrites manifest-list digests and panics on nested
#: indexes (shared/bin/README.md): lab/multi is expected to differ.
IMAGE_SYNCER_UNSUPPORTED = "lab/multi:"
#: Targets of (a): syncer sync over skopeo, and over image-syncer.
COLD_SKOPEO_LIMIT, COLD_IMAGE_SYNCER_LIMIT = 0.6, 0.35

Runner = Callable[[bool], Sample]


def verdict(value: float, limit: float, unit: str = "x", *, extra: bool = True) -> str:
    """``met`` or ``MISSED`` with the measured value against the limit."""
    ok = value <= limit and extra
    return f"{'met' if ok else 'MISSED'}: {value:.2f}{unit} (target <= {limit:g}{unit})"


def ratio_verdict(label: str, scen: Scenario, tool: str, other: str, limit: float) -> str:
    """``label: met: 0.42x (target <= 0.5x)`` for ``tool``'s median wall over ``other``'s.

    ``n/a`` with the reason when either copier has no samples in ``scen``.
    """
    missing = [t for t in (tool, other) if t not in scen.samples]
    if missing:
        return f"{label}: n/a (no runs of {', '.join(missing)})"
    return f"{label}: {verdict(scen.wall(tool) / scen.wall(other), limit)}"


def absent_note(bench: Bench) -> str:
    """The fact a scenario records when image-syncer was left out ("" when it ran)."""
    if bench.options.image_syncer is not None:
        return ""
    return "image-syncer not compared: no binary at ../shared/bin/image-syncer"


def checked(bench: Bench, sample: Sample, repos: list[str]) -> Sample:
    """The sample, with a note when the destination does not match the source."""
    problem = bench.verify(repos)
    if not problem:
        return sample
    known = {
        "skopeo sync": (SKOPEO_UNSUPPORTED, "nested index not copied (skopeo 1.9 limitation)"),
        TOOL: (IMAGE_SYNCER_UNSUPPORTED, "lab/multi differs (image-syncer v1.5.5 limitations)"),
    }
    prefix, why = next((v for k, v in known.items() if sample.tool.endswith(k)), ("", ""))
    expected = bool(prefix) and problem.startswith(prefix)
    note = why if expected else f"MISMATCH {problem}"
    # image-syncer exits 255 on the nested index it cannot copy: that failure is the known one.
    ok = (sample.ok or sample.tool == TOOL) and expected
    return dataclasses.replace(sample, note=note, ok=ok)


def cold_and_noop(
    bench: Bench,
    runners: list[Runner],
    repos: list[str],
    cold: Scenario | None,
    noop: Scenario | None,
    runs: int | None = None,
) -> None:
    """``runs`` rounds (default ``--runs``) of: for each copier, wipe, cold run, then no-op run."""
    for i in range(bench.options.runs if runs is None else runs):
        for runner in runners:
            bench.dest.wipe()
            sample = checked(bench, runner(True), repos)
            log.info("run %d cold: %s", i + 1, sample)
            if cold is not None:
                cold.add(sample)
            if noop is not None:
                again = runner(False)
                log.info("run %d no-op: %s", i + 1, again)
                noop.add(again)


def local_runners(
    bench: Bench, repos: list[str], netns: str | None = None, *, image_syncer_too: bool = True
) -> list[Runner]:
    """skopeo, ``syncer sync``, ``syncer plan`` and image-syncer (when there), all in ``netns``.

    Without ``netns`` all run in the root namespace and the plan has
    ``loopback_workers`` workers; with it, the plan has one worker there.
    """
    workers: list[str | None] = [netns] if netns else [None] * bench.profile.loopback_workers
    runners: list[Runner] = [
        lambda cold: skopeo_sync(bench, [(repos, netns)], cold=cold),
        lambda cold: syncer_sync(bench, repos, netns=netns),
        lambda cold: syncer_plan(bench, repos, workers),
    ]
    binary = bench.options.image_syncer
    if binary is not None and image_syncer_too:
        runners.append(lambda cold: image_syncer(bench, binary, repos, netns=netns))
    return runners


def loopback(bench: Bench, want_cold: bool, want_noop: bool) -> list[Scenario]:
    """Scenarios (a) and (d), sharing their runs."""
    cold = (
        Scenario(
            "a",
            "cold sync on loopback, one host",
            f"syncer sync <= {COLD_SKOPEO_LIMIT:g}x skopeo and "
            f"<= {COLD_IMAGE_SYNCER_LIMIT:g}x image-syncer",
            baseline="skopeo sync",
        )
        if want_cold
        else None
    )
    noop = (
        Scenario(
            "d",
            "no-op resync on loopback",
            "syncer sync <= 0.5x skopeo's no-op, zero source manifest GETs",
            baseline="skopeo sync",
        )
        if want_noop
        else None
    )
    repos = list(bench.main.repos)
    cold_and_noop(bench, local_runners(bench, repos), repos, cold, noop)
    absent = absent_note(bench)
    if cold is not None:
        sync = "syncer sync"
        cold.verdict = "; ".join(
            [
                ratio_verdict("vs skopeo", cold, sync, "skopeo sync", COLD_SKOPEO_LIMIT),
                ratio_verdict("vs image-syncer", cold, sync, TOOL, COLD_IMAGE_SYNCER_LIMIT),
            ]
        )
        cold.facts += [_dataset_fact(bench), *filter(None, [absent])]
    if noop is not None:
        ratio = noop.ratio("syncer sync") or 0.0
        gets = noop.median("syncer sync", lambda s: s.manifest_gets)
        noop.verdict = verdict(ratio, 0.5, extra=gets == 0) + f"; source manifest GETs {gets:.0f}"
        noop.facts += filter(None, [absent])
    if bench.options.profile_dir:
        _profile_loopback(bench, repos, cold, noop)
    return [s for s in (cold, noop) if s is not None]


def _dataset_fact(bench: Bench) -> str:
    m = bench.main
    return (
        f"data: {len(m.repos)} repositories, {m.images} tags, {m.blobs} blobs, "
        f"{m.total_bytes / (1 << 20):.1f} MiB, largest blob {m.largest_blob / (1 << 20):.1f} MiB"
    )


def _profile_loopback(
    bench: Bench, repos: list[str], cold: Scenario | None, noop: Scenario | None
) -> None:
    """One extra cold and no-op ``syncer sync`` under py-spy (not part of the medians)."""
    assert bench.options.profile_dir is not None
    out = bench.options.profile_dir
    bench.dest.wipe()
    syncer_sync(bench, repos, wrap=profiling.record_prefix(out / "sync-cold.raw"))
    syncer_sync(bench, repos, wrap=profiling.record_prefix(out / "sync-noop.raw", idle=True))
    bench.dest.wipe()
    syncer_plan(
        bench, repos, [None] * bench.profile.loopback_workers, profile=out / "plan-cold.raw"
    )
    if cold is not None:
        cold.profiles["syncer sync, cold (py-spy --gil: Python CPU)"] = profiling.summarize(
            [out / "sync-cold.raw"]
        )
        cold.profiles["syncer plan workers, cold (py-spy --gil: Python CPU)"] = profiling.summarize(
            sorted(out.glob("plan-cold.*"))
        )
    if noop is not None:
        noop.profiles["syncer sync, no-op (py-spy --idle: wall time)"] = profiling.summarize(
            [out / "sync-noop.raw"]
        )


def profile_path(bench: Bench, name: str) -> Path | None:
    """Where to put a profile, or None when profiling is off."""
    d = bench.options.profile_dir
    return d / name if d else None
