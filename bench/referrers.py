"""Scenario (i): signed images, with and without ``--referrers``.

Every image of ``bench/signed{N}`` has a signature and an SBOM in the
Referrers Tag Schema form. Cold and no-op ``syncer sync`` run with and
without ``--referrers`` (each pair on a wiped destination and a fresh blob
cache file, where the synced marks live); then ``syncer plan --wait`` no-ops
with and without it. The cost is counted in requests, from both registries'
access logs: a no-op with referrers may cost at most one request per image
over one without. The once-per-run lookups (the referrers API probe that
finds no API, one tag listing per repository) are shown apart.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import requests

from bench.accesslog import read_window, requests_in
from bench.configs import write_images
from bench.context import Bench
from bench.dataset import small_tag_names
from bench.report import Scenario
from bench.tools import Sample, syncer_plan, syncer_sync
from lab.artifacts import fallback_tag
from syncer.oci import mediatypes as mt

log = logging.getLogger(__name__)

#: Signed images in the scenario's repository.
SIGNED_TAGS = 100
#: Extra no-op requests per image that ``--referrers`` may cost.
EXTRA_LIMIT = 1.0
SYNC, REFERRERS = "syncer sync", ("--referrers",)


@dataclass(frozen=True, slots=True)
class Cost:
    """Requests one run made of both registries, and how many were once-per-run lookups."""

    requests: int
    lookups: int


def cost_of(source_log: str, dest_log: str) -> Cost:
    """The :class:`Cost` of one run from its slices of the two access logs."""
    texts = (source_log, dest_log)
    lookups = sum(
        requests_in(t, "/referrers/", status="404") + requests_in(t, "/tags/list") for t in texts
    )
    return Cost(sum(requests_in(t) for t in texts), lookups)


def median_cost(costs: list[Cost]) -> Cost:
    """The median of each field."""
    return Cost(
        int(statistics.median(c.requests for c in costs)),
        int(statistics.median(c.lookups for c in costs)),
    )


def extra_verdict(plain: Cost, referrers: Cost, images: int, limit: float = EXTRA_LIMIT) -> str:
    """``met``/``MISSED``: extra requests per image over ``plain``, the lookups apart."""
    extra = referrers.requests - plain.requests
    lookups = referrers.lookups - plain.lookups
    per_image = (extra - lookups) / images
    ok = per_image <= limit
    return (
        f"{'met' if ok else 'MISSED'}: {per_image:.2f} extra requests per image "
        f"(target <= {limit:g}), plus {lookups} once-per-run lookups: "
        f"{extra / images:.2f} per image all in"
    )


def missing_referrers(bench: Bench, repo: str, tags: list[str]) -> int:
    """Images whose destination fallback index lists fewer referrers than the source's."""
    missing = 0
    dst_repo = bench.dest_repo(repo)
    with requests.Session() as s:
        s.headers["Accept"] = ", ".join([mt.MANIFEST_ACCEPT, mt.OCI_INDEX])
        for tag in tags:
            head = s.head(f"{bench.source.url}/v2/{repo}/manifests/{tag}", timeout=60)
            index = fallback_tag(head.headers.get("Docker-Content-Digest", ""))
            want = s.get(f"{bench.source.url}/v2/{repo}/manifests/{index}", timeout=60)
            got = s.get(f"{bench.dest.url}/v2/{dst_repo}/manifests/{index}", timeout=60)
            listed = {e["digest"] for e in got.json().get("manifests", [])} if got.ok else set()
            missing += not {e["digest"] for e in want.json()["manifests"]} <= listed
    return missing


def _counted(bench: Bench, run: Callable[[], Sample]) -> tuple[Sample, Cost]:
    starts = bench.source.log_size(), bench.dest.log_size()
    sample = run()
    return sample, cost_of(
        read_window(bench.source.log_path, starts[0]), read_window(bench.dest.log_path, starts[1])
    )


def signed_images(bench: Bench, count: int = SIGNED_TAGS) -> list[Scenario]:
    """(i): cold and no-op scenarios sharing their runs."""
    repo, tags = bench.dataset.signed(count), small_tag_names(count)
    rule = {f"{bench.source.host}/{repo}:{','.join(tags)}": bench.dest_repo(repo)}
    images = write_images(
        bench.workdir / "signed.yaml", {k: f"{bench.dest.host}/{v}" for k, v in rule.items()}
    )
    title = f"{count} signed images (a signature and an SBOM each)"
    cold = Scenario("i", f"{title}, cold", "referrers copied", baseline=SYNC, tags=count)
    noop = Scenario(
        "i",
        f"{title}, no-op",
        f"syncer sync --referrers <= {EXTRA_LIMIT:g} extra request per image over syncer sync",
        baseline=SYNC,
        tags=count,
    )
    costs: dict[str, list[Cost]] = {}
    cache = bench.workdir / "signed-blobs.json"
    workers: list[str | None] = [None] * bench.profile.loopback_workers

    def sync(flags: tuple[str, ...]) -> Sample:
        return syncer_sync(bench, [repo], images=images, cache=cache, extra=flags)

    def plan(flags: tuple[str, ...]) -> Sample:
        return syncer_plan(bench, [repo], workers, images=images, extra=flags)

    def plan_again(flags: tuple[str, ...]) -> Sample:
        """The plan once more on the Redis the last one left: its synced marks kept."""
        again = syncer_plan(bench, [repo], workers, images=images, extra=flags, flush=False)
        return dataclasses.replace(again, tool=f"{again.tool}, Redis kept")

    runs = [(sync, ()), (sync, REFERRERS), (plan, ()), (plan, REFERRERS), (plan_again, REFERRERS)]
    for i in range(bench.options.runs):
        for runner, flags in runs:
            if runner is sync:  # each sync pair starts cold; the plans check what is there
                bench.dest.wipe()
                cache.unlink(missing_ok=True)
                sample = sync(flags)
                lacking = missing_referrers(bench, repo, tags) if flags else 0
                if lacking:
                    sample = dataclasses.replace(sample, ok=False, note=f"{lacking} lack referrers")
                log.info("run %d cold: %s", i + 1, sample)
                cold.add(sample)
            again, cost = _counted(bench, functools.partial(runner, flags))
            log.info("run %d no-op: %s, %s", i + 1, again, cost)
            noop.add(again)
            costs.setdefault(again.tool, []).append(cost)
    _conclude(cold, noop, {t: median_cost(c) for t, c in costs.items()}, count)
    return [cold, noop]


def _conclude(cold: Scenario, noop: Scenario, costs: dict[str, Cost], count: int) -> None:
    """Facts and verdicts from the median costs of each no-op copier."""
    ref_sync = " ".join([SYNC, *REFERRERS])
    cold.verdict = "referrers at the destination: " + (
        "all copied" if all(s.ok for s in cold.samples.get(ref_sync, [])) else "MISSING"
    )
    noop.facts += [
        f"{tool}: {c.requests / count:.2f} requests per image, both registries "
        f"({c.requests} in all, {c.lookups} once-per-run lookups)"
        for tool, c in costs.items()
    ]
    plan, ref_plan, kept = (t for t in costs if t.startswith("syncer plan"))
    noop.facts += [
        f"plan --referrers over plan, Redis flushed first (no synced marks yet): "
        f"{extra_verdict(costs[plan], costs[ref_plan], count)}",
        f"plan --referrers over plan, on the Redis that plan left (its synced marks): "
        f"{extra_verdict(costs[plan], costs[kept], count)}",
        "skopeo and image-syncer: n/a (neither copies referrers)",
    ]
    for scen in (cold, noop):
        scen.facts.append(
            f"data: bench/signed{count}, {count} small Docker v2 images, each with a signature "
            "and an SBOM listed in its sha256-<hex> index tag (distribution 2.8: no referrers "
            "API); syncer sync with a blob cache file, fresh for each cold run"
        )
    noop.verdict = extra_verdict(costs[SYNC], costs[ref_sync], count)
