"""``python -m bench.hostile``: what each hostile-registry class of issue #20 costs one run.

Each case starts the scripted server of its test (``tests/support``), runs
``syncer sync --cache none -r 0`` against it under ``/usr/bin/time -v`` with a
timeout, and prints wall time, peak RSS (read from ``/proc`` while it runs, so
a run killed at the timeout still has one), exit status and the requests the
server saw. ``--syncer`` points at another install, e.g. an older release's
venv, for a before/after table::

    python -m bench.hostile                          # this checkout's syncer
    python -m bench.hostile --syncer OLD/.venv/bin/syncer --timeout 120 silent
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab.registry import RegistryServer
from tests.support import hostile_kit as kit
from tests.support import hostile_trees as trees
from tests.support.hostile import HostileRegistry, make_image
from tests.support.runner import isolated_env

#: The source's repository and tag in every case.
REPO, TAG = "lab/app", "v1"


@dataclass
class Case:
    """One class: how to script the source (and the destination, if it is the hostile one)."""

    setup: Callable[[HostileRegistry], object]
    flags: tuple[str, ...] = ()
    #: Makes a scripted destination instead of a real docker-registry.
    lying: Callable[[HostileRegistry, str], object] | None = None


def _image(name: str) -> Callable[[HostileRegistry], object]:
    return lambda src: src.serve_image(REPO, TAG, make_image(name))


def _then(
    first: Callable[[HostileRegistry], object], then: Callable[[HostileRegistry], object]
) -> Callable[[HostileRegistry], object]:
    return lambda src: (first(src), then(src))[-1]


CASES: dict[str, Case] = {
    "auth-header": Case(lambda src: kit.challenge_flood(src, lines=20, length=60_000)),
    "index-dupes": Case(
        lambda src: trees.repeated_child_tree(src, REPO, TAG, subs=30, repeat=40_000)
    ),
    "tree-bytes": Case(lambda src: trees.wide_tree(src, REPO, TAG, children=100, size=3_900_000)),
    "referrers": Case(
        lambda src: trees.referrer_storm(src, REPO, TAG, per_subject=200), ("--referrers",)
    ),
    "lying-digest": Case(_image("lying"), lying=kit.digest_liar),
    "lying-nothing": Case(_image("lying"), lying=kit.black_hole),
    "token-nan": Case(
        _then(_image("tokens"), lambda src: kit.bearer_everywhere(src, "NaN")), ("-v",)
    ),
    "token-1e400": Case(
        _then(_image("tokens"), lambda src: kit.bearer_everywhere(src, "1e400")), ("-v",)
    ),
    "silent": Case(_then(_image("silent"), lambda src: kit.silent_manifests(src, REPO))),
    "retry-after": Case(
        _then(_image("throttled"), lambda src: kit.always_429(src, REPO, retry_after="86400"))
    ),
}


def _peak_kib(marker: bytes, done: threading.Event, peak: list[int]) -> None:
    """The syncer process's own VmHWM, read while it runs."""
    while not done.is_set():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if marker not in cmdline or cmdline.startswith(b"timeout"):
                    continue
                for row in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if row.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(row.split()[1]))
            except OSError:
                pass
        done.wait(0.2)


def measure(name: str, syncer: str, timeout: int) -> str:
    """Run one case; its table row."""
    case = CASES[name]
    work = Path(tempfile.mkdtemp(prefix=f"bench-hostile-{name}-"))
    src = HostileRegistry(lifetime=timeout + 60).start()
    case.setup(src)
    real: RegistryServer | None = None
    if case.lying is not None:
        dst = HostileRegistry(lifetime=timeout + 60).start()
        case.lying(dst, "mirror/app")
        dst_host, watched = dst.host, dst
    else:
        real = RegistryServer(binary="docker-registry", workdir=work / "registry")
        real.start()
        dst_host, watched = real.host, src
    images = work / "images.yaml"
    images.write_text(yaml.safe_dump({f"{src.host}/{REPO}:{TAG}": f"{dst_host}/mirror/app"}))
    env = isolated_env(work / "home", {})
    env.pop("PYTHONPATH", None)
    cmd = ["timeout", "-k", "5", str(timeout), syncer, "sync", "--cache", "none", "-r", "0"]
    cmd += ["--images", str(images), *case.flags]
    done, peak = threading.Event(), [0]
    poller = threading.Thread(target=_peak_kib, args=(str(images).encode(), done, peak))
    poller.start()
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    done.set()
    poller.join()
    seen = watched.requests()
    src.stop()
    if real is not None:
        real.stop()
    status = "killed" if proc.returncode in (124, 137) else f"exit {proc.returncode}"
    tokens = len([s for s in seen if s.path == "/token"])
    lines = proc.stderr.splitlines()
    last = next(
        (ln for ln in lines if " ERROR " in ln or "error:" in ln), lines[-1] if lines else ""
    )
    return (
        f"| {name} | {wall:.1f} s | {peak[0] / 1024:.0f} MiB | {status} | {len(seen)} "
        f"| {tokens} | {re.sub(r'[|]', '/', last)[:120]} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Print one table row per case."""
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("cases", nargs="*", choices=[[], *CASES], default=[], metavar="CASE")
    parser.add_argument("--syncer", default=str(Path(sys.executable).with_name("syncer")))
    parser.add_argument("--timeout", type=int, default=150)
    args = parser.parse_args(argv)
    print("| case | wall | peak RSS | end | requests | token requests | first error line |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.cases or list(CASES):
        print(measure(name, args.syncer, args.timeout), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
