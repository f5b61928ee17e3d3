"""Medians, the results table, and ``bench/RESULTS.md``."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.tools import Sample

MIB = 1 << 20
GIB = 1 << 30


#: Below this many bytes moved, core-s per GiB is not shown: a no-op run that
#: reads a few config blobs would report a meaningless rate.
MIN_BYTES_PER_GIB = MIB


def per_gib(sample: Sample) -> float | None:
    """The copier's core-seconds per GiB read from the source; None when (almost) nothing moved."""
    if sample.bytes_moved < MIN_BYTES_PER_GIB:
        return None
    return sample.copier_cpu_s / (sample.bytes_moved / GIB)


def _median_of(values: list[float | None], fmt: str) -> str:
    known = [v for v in values if v is not None]
    return format(statistics.median(known), fmt) if known else "–"


@dataclass
class Scenario:
    """One scenario's samples per copier, its target, and whether it was met."""

    key: str
    title: str
    target: str
    #: Samples per copier, in table order; ``baseline`` names the ratio's denominator.
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    baseline: str = ""
    facts: list[str] = field(default_factory=list)
    verdict: str = ""
    skipped: str = ""
    profiles: dict[str, str] = field(default_factory=dict)
    #: Tags each run copies or checks; when set, the table shows core-ms per tag.
    tags: int = 0
    #: Markdown shown as it is after the facts (a table of its own).
    extra: list[str] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        """Record one sample under its tool's name."""
        self.samples.setdefault(sample.tool, []).append(sample)

    def median(self, tool: str, metric: Callable[[Sample], float]) -> float:
        """Median of ``metric`` over ``tool``'s samples."""
        return float(statistics.median(metric(s) for s in self.samples[tool]))

    def wall(self, tool: str) -> float:
        """Median wall time of ``tool``."""
        return self.median(tool, lambda s: s.wall)

    def ratio(self, tool: str) -> float | None:
        """Median wall of ``tool`` over the baseline's, or None without a baseline."""
        if not self.baseline or self.baseline not in self.samples:
            return None
        return self.wall(tool) / self.wall(self.baseline)

    def cpu_per_gib(self, tool: str) -> float | None:
        """Median core-seconds per GiB moved of ``tool``'s runs that moved bytes."""
        known = [v for v in map(per_gib, self.samples[tool]) if v is not None]
        return float(statistics.median(known)) if known else None

    def _cpu_cells(self, samples: list[Sample]) -> str:
        cells = [
            _median_of([s.copier_cpu_s for s in samples], ".2f"),
            _median_of([per_gib(s) for s in samples], ".1f"),
        ]
        if self.tags:
            cells.append(_median_of([1000 * s.copier_cpu_s / self.tags for s in samples], ".1f"))
        return " | ".join(cells) + " |"

    def table(self) -> str:
        """Markdown table of medians, one row per copier."""
        head = (
            "| copier | runs | wall s (median) | min–max | ratio | peak RSS MiB | RSS of | "
            "bytes moved MiB | source manifest GETs | ok | note | copier core-s | core-s/GiB |"
        )
        head += " core-ms/tag |" if self.tags else ""
        rows = [head, "|" + " --- |" * (head.count("|") - 1)]
        for tool, samples in self.samples.items():
            walls = [s.wall for s in samples]
            ratio = self.ratio(tool)
            notes = sorted({s.note for s in samples if s.note})
            rows.append(
                f"| {tool} | {len(samples)} | {self.wall(tool):.2f} | "
                f"{min(walls):.2f}–{max(walls):.2f} | "
                f"{'' if ratio is None else f'{ratio:.2f}x'} | "
                f"{self.median(tool, lambda s: s.peak_rss_kib) / 1024:.0f} | {samples[0].rss_of} | "
                f"{self.median(tool, lambda s: s.bytes_moved) / MIB:.1f} | "
                f"{self.median(tool, lambda s: s.manifest_gets):.0f} | "
                f"{sum(s.ok for s in samples)}/{len(samples)} | {'; '.join(notes)} | "
                + self._cpu_cells(samples)
            )
        return "\n".join(rows)

    def markdown(self) -> str:
        """This scenario's section of RESULTS.md."""
        out = [f"### ({self.key}) {self.title}", "", f"Target: {self.target}", ""]
        if self.skipped:
            return "\n".join([*out, f"**Skipped:** {self.skipped}", ""])
        if self.samples:
            out += [self.table(), ""]
        out += [f"- {f}" for f in self.facts]
        out += [
            f"- {tool}, run {i}: {s.cpu}"
            for tool, samples in self.samples.items()
            for i, s in enumerate(samples, 1)
            if s.cpu
        ]
        if self.extra:
            out += ["", *self.extra]
        out += ["", f"**Verdict:** {self.verdict or 'n/a'}", ""]
        for name, text in self.profiles.items():
            out += [f"Profile: {name}", "", "```", text, "```", ""]
        return "\n".join(out)


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (done.stdout or done.stderr).strip().splitlines()[0]


def machine() -> list[str]:
    """nproc, memory, kernel, and the versions of every program involved."""
    mem = next(
        (
            line.split(":")[1].strip()
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "?",
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"nproc: {os.cpu_count()}; memory: {mem}; kernel: {platform.release()}",
        f"python: {sys.version.split()[0]} ({sys.executable})",
        f"skopeo: {_version(['skopeo', '--version'])}",
        f"distribution: {_version(['docker-registry', '--version'])}",
        f"redis: {_version(['redis-server', '--version'])}",
        f"load average when this was written: {load} (other jobs share this machine)",
    ]


def write_results(
    path: Path, *, command: str, header: list[str], scenarios: list[Scenario]
) -> None:
    """Write RESULTS.md: command, machine, data set, then every scenario."""
    parts = [
        "# syncer benchmark results",
        "",
        "Produced by:",
        "",
        "```sh",
        command,
        "```",
        "",
        "## Machine",
        "",
        *[f"- {line}" for line in machine()],
        "",
        *header,
        "",
        "## Summary",
        "",
        "| scenario | target | verdict |",
        "| --- | --- | --- |",
        *[
            f"| ({s.key}) {s.title} | {s.target} | {s.skipped and 'skipped' or s.verdict} |"
            for s in scenarios
        ],
        "",
        "## Scenarios",
        "",
        *[s.markdown() for s in scenarios],
    ]
    path.write_text("\n".join(parts))


def console(scenarios: list[Scenario]) -> str:
    """The tables for the terminal."""
    out = []
    for s in scenarios:
        out.append(f"\n({s.key}) {s.title}  [target: {s.target}]")
        if s.skipped:
            out.append(f"  skipped: {s.skipped}")
            continue
        if s.samples:
            out.append(s.table())
        out += [f"  {f}" for f in s.facts]
        out.append(f"  => {s.verdict}")
    return "\n".join(out)
