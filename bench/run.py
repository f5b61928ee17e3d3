"""``python -m bench``: time skopeo, ``syncer sync`` and ``syncer plan`` on the same data.

Scenarios (issues #4, #13, #14, #23, #24): (a) cold sync on loopback, (d)
no-op resync, (g) many small tags cold and no-op, (v) verify's cost per
tag, (r) Redis commands and memory per tag of a plan, (f) planning 10,000
tags, (h) the no-op re-sync of those tags, (i) signed images with and
without ``--referrers``, (p) a 100,000-tag re-check projected to a million,
(e) worker memory with eight big streams, (b) one shaped host, (c) a fleet
of shaped hosts. Everything it
starts — registries, Redis, workers, namespaces, qdiscs — is removed on exit, on error, on Ctrl-C,
on SIGTERM and when ``--time-limit`` runs out.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from bench import (
    imagesyncer,
    limits,
    pertag,
    profiling,
    projection,
    rediscost,
    referrers,
    scenarios,
    shaped,
    verifycost,
)
from bench.context import Bench, Options
from bench.dataset import LARGE_REPO, Dataset
from bench.netns import Network
from bench.report import Scenario, console, write_results
from bench.servers import BenchRegistry, RedisServer
from bench.settings import (
    BRIDGE_ADDR,
    DATA_DIR,
    DEST_PORT,
    FLEET_HOSTS,
    LINK_MBIT,
    PROFILES,
    REDIS_PORT,
    RESULTS_FILE,
    SOURCE_PORT,
    TIME_LIMIT,
    Profile,
)

log = logging.getLogger("bench")

ALL = "adgvrfhipebc"
#: The checkout holding this package: image-syncer is looked for beside it.
REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("skopeo", "docker-registry", "redis-server", "/usr/bin/time", "ip", "tc")


class TimeLimit(BaseException):
    """``--time-limit`` ran out (a BaseException, so no scenario swallows it)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small data set, one run each")
    p.add_argument(
        "--only",
        default=ALL,
        metavar="LETTERS",
        help=f"scenarios to run, e.g. 'ad' (default all: {ALL})",
    )
    p.add_argument("--runs", type=int, help="repetitions per measurement (median reported)")
    p.add_argument("--memory-runs", type=int, default=1, help="repetitions of (e) (default 1)")
    p.add_argument("--proc", type=int, default=5, help="syncer sync -p (default 5)")
    p.add_argument("--worker-proc", type=int, default=5, help="syncer worker -p (default 5)")
    p.add_argument("--link-mbit", type=int, default=LINK_MBIT, help="shaped link rate")
    p.add_argument("--hosts", type=int, default=FLEET_HOSTS, help="shaped hosts in (c)")
    p.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="skip the py-spy profiles (extra runs, not in the medians)",
    )
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="seeded source data")
    p.add_argument("--results", type=Path, help="results file (default: see README)")
    p.add_argument("--time-limit", type=int, default=TIME_LIMIT, help="seconds, then clean up")
    p.add_argument("--keep-workdir", action="store_true", help="keep logs and configs")
    return p.parse_args(argv)


def _install_signals(limit: int) -> None:
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimit(f"time limit of {limit}s reached")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)


def _results_path(args: argparse.Namespace, profile: Profile) -> Path:
    if args.results:
        return Path(args.results)
    if profile.name == "full" and set(args.only) == set(ALL):
        return RESULTS_FILE
    return Path(args.data_dir) / f"results-{profile.name}-{args.only}.md"


def _network(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[str, str]:
    """Open the shaped hosts if (b) or (c) was asked for; return (address, why-not)."""
    want = [k for k in "bc" if k in args.only]
    if not want:
        return "127.0.0.1", ""
    why = Network.check()
    if why:
        return "127.0.0.1", why
    net = Network(hosts=args.hosts if "c" in want else 1, mbit=args.link_mbit)
    stack.callback(net.close)
    net.open()
    return BRIDGE_ADDR, ""


def _servers(
    args: argparse.Namespace,
    profile: Profile,
    address: str,
    work: Path,
    stack: contextlib.ExitStack,
) -> tuple[BenchRegistry, BenchRegistry, RedisServer]:
    src_dir = args.data_dir / profile.name / "source"
    if Dataset.stale(profile, src_dir):
        log.info("seeded data in %s is of other sizes: wiping it", src_dir)
        shutil.rmtree(src_dir)
    src_dir.mkdir(parents=True, exist_ok=True)
    source = BenchRegistry(address, SOURCE_PORT, src_dir)
    source.log_path.unlink(missing_ok=True)
    dest = BenchRegistry(address, DEST_PORT, work / "dest")
    redis_server = RedisServer(address, REDIS_PORT, work / "redis")
    for server in (source, dest, redis_server):
        stack.callback(server.stop)
        server.start()
    return source, dest, redis_server


def _plan(
    bench: Bench, args: argparse.Namespace, why_no_net: str
) -> list[tuple[str, Callable[[], list[Scenario]]]]:
    steps: list[tuple[str, Callable[[], list[Scenario]]]] = []
    if "a" in args.only or "d" in args.only:
        steps.append(("ad", lambda: scenarios.loopback(bench, "a" in args.only, "d" in args.only)))
    for count in bench.profile.small_tags if "g" in args.only else ():
        steps.append(("g", functools.partial(pertag.small_tags, bench, count)))
    for count in bench.profile.small_tags if "v" in args.only else ():
        steps.append(("v", lambda n=count: [verifycost.verify_cost(bench, n)]))  # type: ignore[misc]
    single: list[tuple[str, Callable[[], list[Scenario]]]] = [
        ("r", lambda: rediscost.redis_cost(bench)),
        ("f", lambda: [limits.planning(bench)]),
        ("h", lambda: [pertag.noop_at_scale(bench)]),
        ("i", lambda: referrers.signed_images(bench)),
        ("p", lambda: projection.projection(bench)),
        ("e", lambda: [limits.memory(bench, args.memory_runs)]),
    ]
    steps += [(key, fn) for key, fn in single if key in args.only]
    shaped_steps: list[tuple[str, str, Callable[[], list[Scenario]]]] = [
        ("b", "one shaped host", lambda: [shaped.one_host(bench)]),
        ("c", "shaped fleet", lambda: [shaped.fleet(bench, args.hosts, LARGE_REPO)]),
    ]
    for key, title, fn in shaped_steps:
        if key not in args.only:
            continue
        if why_no_net:
            fn = functools.partial(_skipped, key, title, why_no_net)
        steps.append((key, fn))
    return steps


def _skipped(key: str, title: str, why: str) -> list[Scenario]:
    return [Scenario(key, title, "", skipped=why)]


def _header(bench: Bench, args: argparse.Namespace, started: float, status: str) -> list[str]:
    p, o = bench.profile, bench.options
    return [
        "## Setup",
        "",
        f"- status: {status}; total time {time.monotonic() - started:.0f} s",
        f"- profile `{p.name}`: {p.to_dict()}",
        f"- runs per measurement: {o.runs} (medians reported); (e): {args.memory_runs}",
        f"- syncer sync -p {o.proc}; syncer worker -p {o.worker_proc} (pool: threads); "
        f"loopback plan runs use {p.loopback_workers} workers",
        f"- servers listen on {bench.source.address}: source :{bench.source.port}, "
        f"destination :{bench.dest.port}, redis :{bench.redis.port}",
        "- wall: from process start to exit (includes interpreter start-up), "
        "or for plans from `syncer plan --wait` start to its exit; workers are started "
        "(and ready) before the clock starts",
        "- peak RSS: `/usr/bin/time -v` maximum resident set size for one-shot processes; "
        "VmHWM from /proc/PID/status for workers, read before they stop",
        "- bytes moved and source manifest GETs: parsed from the source registry's access log "
        "for the run's window (blob GET response bytes; GET /v2/*/manifests/*)",
        "- skopeo: `skopeo sync --all --preserve-digests --keep-going` once per repository, "
        "with an emptied blob-info cache for cold runs",
        f"- image-syncer: {o.image_syncer or 'not found (left out)'}, `--proc {o.proc}`, "
        "HOME and XDG directories of its own; it keeps no blob-info cache",
        "- copier core-s: user + system CPU of the copier's own processes, never the "
        "registries' or Redis's: `/usr/bin/time -v` of skopeo (with its `sh` loop), "
        "`syncer sync`, image-syncer and the planner; for plans, plus the workers' process "
        "trees from /proc before and after; core-s/GiB divides by the source blob bytes "
        "(not shown under 1 MiB moved), core-ms/tag by the tags of the scenario",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios; write the results; always clean up."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    missing = [t for t in REQUIRED if shutil.which(t) is None]
    if missing:
        print(f"bench: missing required programs: {', '.join(missing)}", file=sys.stderr)
        return 2
    profile = PROFILES["quick" if args.quick else "full"]
    runs = args.runs or profile.runs
    _install_signals(args.time_limit)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="syncer-bench-", dir="/var/tmp"))
    done: list[Scenario] = []
    status = "complete"
    with contextlib.ExitStack() as stack:
        if not args.keep_workdir:
            stack.callback(shutil.rmtree, work, True)
        try:
            address, why_no_net = _network(args, stack)
            if why_no_net:
                log.warning("skipping (b) and (c): %s", why_no_net)
            source, dest, redis_server = _servers(args, profile, address, work, stack)
            dataset = Dataset(profile, source.url, source.workdir)
            profile_dir = work / "profiles" if args.profile and profiling.available() else None
            if profile_dir:
                profile_dir.mkdir()
            options = Options(
                runs,
                args.proc,
                args.worker_proc,
                args.link_mbit,
                profile_dir,
                imagesyncer.find(REPO_ROOT),
            )
            bench = Bench(
                profile, options, source, dest, redis_server, dataset, work, dataset.main()
            )
            for key, step in _plan(bench, args, why_no_net):
                log.info("scenario %s", key)
                try:
                    done += step()
                except Exception as exc:  # one broken scenario must not lose the others
                    log.exception("scenario %s failed", key)
                    done.append(Scenario(key, "failed", "", skipped=f"failed: {exc}"))
        except (KeyboardInterrupt, TimeLimit) as exc:
            status = f"INCOMPLETE ({type(exc).__name__}: {exc})"
            log.warning("stopping: %s; cleaning up", status)
        finally:
            signal.alarm(0)
        if done:
            path = _results_path(args, profile)
            command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
            write_results(
                path,
                command=command.strip(),
                header=_header(bench, args, started, status),
                scenarios=done,
            )
            print(console(done))
            print(f"\nresults written to {path}")
        if args.keep_workdir:
            print(f"work directory kept: {work}")
    return 0 if status == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
