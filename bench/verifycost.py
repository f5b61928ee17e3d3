"""(v) what proving a mirror costs per tag (issue #24): ``syncer verify`` and ``plan --verify``.

The destination is filled first by one ``syncer sync`` of the ``small`` part
(N small tags in one repository), then each is timed over the complete mirror:
every tag is listed and HEADed at both ends, and none may be fetched (zero
source manifest GETs), since a HEAD's digest suffices.
"""

from __future__ import annotations

import logging
import sys

from bench.context import Bench
from bench.cpuload import CpuMeter
from bench.pertag import plan_tool
from bench.procs import run_timed
from bench.report import Scenario
from bench.tools import Sample, measure, syncer_plan, syncer_sync

log = logging.getLogger(__name__)

VERIFY = "syncer verify"


def syncer_verify(bench: Bench, repos: list[str]) -> Sample:
    """Embedded ``syncer verify`` of ``repos`` (exit 0: every tag the same)."""
    argv = [sys.executable, "-m", "syncer", "verify", "--auth", str(bench.auth_file())]
    argv += ["--images", str(bench.images_file(repos)), "-p", str(bench.options.proc)]
    argv += ["--output", "json"]
    start = bench.source.log_size()
    with CpuMeter() as cpu:
        timed = run_timed(argv, log_path=bench.workdir / "syncer-verify.log")
    return measure(bench, VERIFY, "process", start, timed, cpu=cpu)


def verify_cost(bench: Bench, count: int) -> Scenario:
    """(v) for ``count`` tags: embedded and fleet verify of a complete mirror."""
    plan = f"{plan_tool(bench)} --verify"
    scen = Scenario(
        "v",
        f"verify {count} small tags of a complete mirror",
        "none set: the cost per tag of proving a mirror (HEADs only, zero manifest GETs)",
        baseline=VERIFY,
        tags=count,
    )
    repo = bench.dataset.small(count)
    bench.dest.wipe()
    seed = syncer_sync(bench, [repo])
    scen.facts.append(
        f"destination filled first by one `syncer sync` (not in the table): {seed.wall:.1f} s, "
        f"exit {'0' if seed.ok else 'non-zero'}"
    )
    workers: list[str | None] = [None] * bench.profile.loopback_workers
    for i in range(bench.options.runs):
        embedded = syncer_verify(bench, [repo])
        log.info("run %d verify: %s", i + 1, embedded)
        scen.add(embedded)
        fleet = syncer_plan(bench, [repo], workers, extra=("--verify",))
        log.info("run %d plan --verify: %s", i + 1, fleet)
        scen.add(fleet)
    scen.verdict = "; ".join(_per_tag(scen, tool, count) for tool in (VERIFY, plan))
    return scen


def _per_tag(scen: Scenario, tool: str, count: int) -> str:
    if tool not in scen.samples:
        return f"{tool}: n/a (no runs)"
    wall = scen.wall(tool) * 1000 / count
    cpu = scen.median(tool, lambda s: s.copier_cpu_s) * 1000 / count
    gets = scen.median(tool, lambda s: s.manifest_gets)
    ok = all(s.ok for s in scen.samples[tool])
    return (
        f"{tool}: {wall:.2f} ms/tag wall, {cpu:.2f} core-ms/tag, source manifest GETs "
        f"{gets:.0f}{'' if ok else ', NOT ALL SAME'}"
    )
