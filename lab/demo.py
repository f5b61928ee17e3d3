"""The demo: two throwaway registries, a seeded image set, ``syncer sync`` (or, with ``--fleet``, a
fleet of Redis, two workers and Flower, and ``syncer plan --wait``).

Run with ``scripts/demo`` (or ``python -m lab.demo``). Everything binds to
127.0.0.1 and is stopped and deleted at the end, also on Ctrl-C, SIGTERM or
an error; ``--keep`` keeps it all running until Ctrl-C, to try commands on.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

import yaml

from lab.images import ImageSet
from lab.push import push_image_set
from lab.registry import LabError, RegistryServer
from lab.seed import demo_image_set, describe
from syncer.config.files import load_config


def banner(text: str) -> None:
    """A section heading on stdout."""
    print(f"\n=== {text}", flush=True)


def syncer(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> int:
    """Run ``syncer ARGS`` in ``cwd`` as its own process, its output straight to ours."""
    banner(f"syncer {shlex.join(args)}")
    argv = [sys.executable, "-m", "syncer", *args]
    return subprocess.run(argv, cwd=cwd, env=env, check=False).returncode


def seed(source: RegistryServer, large_layer_mib: int) -> ImageSet:
    """Push the demo's image set into ``source``, saying what it holds."""
    images = demo_image_set(large_layer_mib)
    banner(f"seeding {describe(images)} into {source.host}")
    push_image_set(source.url, images)
    return images


def write_config(work: Path, source: str, dest: str) -> Path:
    """The demo's config: one rule of every form image-syncer knows."""
    config = {
        "auth": {source: {"insecure": True}, dest: {"insecure": True}},
        "images": {
            f"{source}/lab/app0": f"{dest}/mirror/app0",
            f"{source}/lab/app1:v1,v2": f"{dest}/mirror/app1:stable,previous",
            f"{source}/lab/app2:/^v[23]$/": f"{dest}/mirror/app2",
            f"{source}/lab/app3": [f"{dest}/mirror/app3", f"{dest}/backup/app3"],
            f"{source}/lab/large:v1": f"{dest}/mirror/large",
            f"{source}/lab/multi": f"{dest}/mirror/multi",
        },
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    print(path.read_text(), end="")
    return path


def explain_counts(config: Path, images: ImageSet) -> None:
    """Say what syncer will count as an image: one per selected tag and destination."""
    rules = load_config(config, environ={}).rules
    tags = copies = 0
    for rule in rules:
        repo = rule.source.path
        selected = sum(1 for i in images.images if i.repo == repo and rule.matches(i.tag))
        tags += selected
        copies += selected * len(rule.destinations)
    print(
        f"\nThe rules select {tags} of the {len(images.images)} tags. syncer counts an image per "
        f"tag and destination: lab/app3 goes to two repositories, so the runs below count "
        f"{copies} images."
    )


def run_embedded(work: Path, config: Path, source: RegistryServer) -> int:
    """``syncer sync`` twice: a cold copy, then a no-op that reads no manifest."""
    args = ["sync", config.name, "--cache", "blobs.json", "--output-success-images", "synced.yaml"]
    code = syncer(args, work)
    if code != 0:
        return code
    first = source.count_requests("GET", "/manifests/")
    print("\nthe same sync again: unchanged tags are skipped with HEAD requests only")
    code = syncer(args, work)
    second = source.count_requests("GET", "/manifests/") - first
    print(
        f"\nsource manifest GETs (from the registry's access log): "
        f"{first} in the first run, {second} in the second"
    )
    return code


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def sigterm_exits() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while the demo runs, so its cleanup runs too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def hold(work: Path, commands: list[str]) -> None:
    """``--keep``: leave everything running until Ctrl-C (or SIGTERM), with commands to try."""
    print(f"\nEverything keeps running; the demo's files are in {work}. In another shell, try:")
    for command in commands:
        print(f"  {command}")
    print("Ctrl-C stops it all and deletes the files.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print()


def run(args: argparse.Namespace) -> int:
    """The whole demo; every server it started is stopped when it returns or raises."""
    with ExitStack() as stack, sigterm_exits():
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="syncer-demo-")))
        source = stack.enter_context(RegistryServer())
        dest = stack.enter_context(RegistryServer())
        images = seed(source, args.large_layer_mib)
        config = write_config(work, source.host, dest.host)
        explain_counts(config, images)
        syncer_bin = shlex.quote(str(Path(sys.executable).with_name("syncer")))
        if args.fleet:
            from lab import fleetdemo

            code, commands = fleetdemo.run(stack, work, config, workers=args.workers)
        else:
            code = run_embedded(work, config, source)
            commands = [f"cd {work} && {syncer_bin} sync config.yaml --cache blobs.json --dry-run"]
        if args.keep:
            hold(work, commands)
        else:
            print("\nThe registries stop now and the files are deleted; --keep keeps them.")
        return code


def main(argv: list[str] | None = None) -> int:
    """``python -m lab.demo``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument(
        "--large-layer-mib",
        type=int,
        default=96,
        help="size of the demo's large layer (uploaded in resumable chunks)",
    )
    parser.add_argument(
        "--fleet", action="store_true", help="Redis, workers and Flower, and `syncer plan --wait`"
    )
    parser.add_argument("--workers", type=int, default=2, help="workers in --fleet (default 2)")
    parser.add_argument(
        "--keep", action="store_true", help="keep everything running until Ctrl-C, to try on"
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except LabError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
