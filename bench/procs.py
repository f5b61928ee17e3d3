"""Timed processes, peak RSS, and a fleet of Celery workers.

Peak RSS comes from two psutil-free sources:

* ``/usr/bin/time -v`` ("Maximum resident set size") for commands that run
  to completion (skopeo, ``syncer sync``, the planner);
* ``VmHWM`` in ``/proc/PID/status`` for long-running workers, read just
  before they are stopped. ``ip netns exec`` and ``syncer worker`` both exec,
  so the PID we start is the Celery process itself.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cputree import time_v_cpu
from bench.settings import COMMAND_TIMEOUT

log = logging.getLogger(__name__)

TIME = "/usr/bin/time"
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
#: Seconds for a worker to print "ready".
WORKER_START_TIMEOUT = 60.0


class CommandFailed(RuntimeError):
    """A timed command exited non-zero."""


@dataclass(frozen=True, slots=True)
class Timed:
    """Wall time, peak RSS and exit code of one finished command (or parallel group)."""

    wall: float
    peak_rss_kib: int
    returncode: int
    #: User + system core-seconds of the command and its waited-for descendants.
    cpu_s: float = 0.0


def in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    """``argv``, run inside network namespace ``netns`` when one is given."""
    return (["ip", "netns", "exec", netns] if netns else []) + list(argv)


def _start(
    argv: Sequence[str],
    netns: str | None,
    env: dict[str, str] | None,
    log_path: Path,
    rss_path: Path,
) -> subprocess.Popen[bytes]:
    full = in_netns([TIME, "-v", "-o", str(rss_path), *argv], netns)
    with open(log_path, "ab") as out:
        out.write(f"\n$ {' '.join(full)}\n".encode())
        out.flush()
        return subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


def _time_v(path: Path) -> tuple[int, float]:
    """(maximum RSS KiB, user + system seconds) from one ``/usr/bin/time -v`` report."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return 0, 0.0
    m = _MAXRSS.search(text)
    return (int(m.group(1)) if m else 0), time_v_cpu(text)


def run_parallel(
    commands: Sequence[tuple[Sequence[str], str | None]],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Timed:
    """Start every ``(argv, netns)`` at once; wall time until the last one exits.

    Peak RSS is the largest of the processes'; CPU is their sum. A timeout kills them all.
    """
    rss_files = [log_path.with_suffix(f".rss{i}") for i in range(len(commands))]
    started = time.monotonic()
    pairs = zip(commands, rss_files, strict=True)
    procs = [_start(argv, ns, env, log_path, rss) for (argv, ns), rss in pairs]
    try:
        codes = [p.wait(timeout=max(1.0, started + timeout - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - started
    reports = [_time_v(r) for r in rss_files]
    for r in rss_files:
        r.unlink(missing_ok=True)
    rss = max(kib for kib, _ in reports)
    return Timed(wall, rss, max(codes, key=abs), sum(cpu for _, cpu in reports))


def run_timed(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Timed:
    """Run one command to completion under ``/usr/bin/time -v``."""
    return run_parallel([(argv, netns)], log_path=log_path, env=env, timeout=timeout)


def vm_hwm_kib(pid: int) -> int:
    """Peak RSS (``VmHWM``) of a live process, in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class WorkerFleet:
    """``syncer worker`` processes, one per entry of ``hosts`` (a netns name, or None)."""

    def __init__(
        self, hosts: Sequence[str | None], *, proc: int, env: dict[str, str], logdir: Path
    ) -> None:
        self.hosts, self.proc, self.env, self.logdir = list(hosts), proc, env, logdir
        self._procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> None:
        """Start every worker and wait until each says it is ready."""
        # Only this fleet's logs may remain: celery_summary reads worker*.log.
        for old in self.logdir.glob("worker*.log"):
            old.unlink()
        for i, host in enumerate(self.hosts):
            log_path = self.logdir / f"worker{i}.log"
            argv = in_netns(
                [
                    sys.executable,
                    "-m",
                    "syncer",
                    "worker",
                    "-p",
                    str(self.proc),
                    "-n",
                    f"bench{i}@{host or 'local'}",
                    "--loglevel",
                    "INFO",
                ],
                host,
            )
            with open(log_path, "wb") as out:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.env},
                )
            self._procs.append((proc, log_path))
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        for proc, log_path in self._procs:
            while b" ready." not in log_path.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise CommandFailed(f"worker did not start; see {log_path}")
                time.sleep(0.1)

    @property
    def roots(self) -> list[int]:
        """PIDs of the ``syncer worker`` supervisors: each tree holds one worker's processes."""
        return [p.pid for p, _ in self._procs]

    @property
    def pids(self) -> list[int]:
        """PIDs of the Celery worker processes.

        ``syncer worker`` supervises one ``celery worker`` child, which does the
        work: its memory and its profile are what count, not the supervisor's.
        """
        return [_celery_child(p.pid) for p, _ in self._procs]

    def peak_rss_kib(self) -> list[int]:
        """Each live worker's peak RSS so far."""
        return [vm_hwm_kib(pid) for pid in self.pids]

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL after 15 s."""
        for proc, _ in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()


_TASK_DONE = re.compile(
    r"^\[(?P<stamp>[0-9-]+ [0-9:,]+): INFO/[^\]]*\] Task (?P<task>syncer\.\w+)\[[^\]]*\] "
    r"succeeded in (?P<secs>[0-9.]+)s: '(?P<result>\w+)'",
    re.MULTILINE,
)
_TASK_GOT = re.compile(r"^\[(?P<stamp>[0-9-]+ [0-9:,]+): INFO/[^\]]*\] Task \S+ received", re.M)


def _stamp(text: str) -> float:
    clock = text.split()[1]
    h, m, s = clock.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def celery_summary(logdir: Path) -> str:
    """What the last fleet's workers did: task outcomes, and the span from first to last task."""
    text = "\n".join(p.read_text(errors="replace") for p in sorted(logdir.glob("worker*.log")))
    done = list(_TASK_DONE.finditer(text))
    got = [_stamp(m["stamp"]) for m in _TASK_GOT.finditer(text)]
    if not done or not got:
        return "worker logs: no tasks"
    counts: dict[str, int] = {}
    for m in done:
        key = f"{m['task'].split('.')[-1]}={m['result']}"
        counts[key] = counts.get(key, 0) + 1
    ends = sorted(_stamp(m["stamp"]) for m in done)
    copies = [_stamp(m["stamp"]) for m in done if m["task"].endswith("copy_blob")]
    tail = ends[-1] - max(copies) if copies else 0.0
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return (
        f"worker logs (last plan run): first task received to last task done "
        f"{ends[-1] - min(got):.2f} s; last copy_blob done {tail:.2f} s before the end; "
        f"outcomes: {outcomes}"
    )


def _celery_child(pid: int) -> int:
    """The supervised celery process under ``syncer worker`` (or ``pid`` if none yet)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return pid
    return children[0] if children else pid
