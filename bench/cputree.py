"""CPU of the copier's own processes, and pinning processes to CPUs.

Two sources, both per process tree, neither counting the registries or Redis:

* one-shot commands run under ``/usr/bin/time -v``, which reports the user
  and system time of the command and of every descendant it waited for
  (``wait4`` rusage adds a reaped child's own reaped children): skopeo's
  ``sh`` loop with its skopeo processes, ``syncer sync``, ``syncer plan``,
  image-syncer — see :func:`time_v_cpu`;
* long-running workers, read from ``/proc`` before and after the run while
  they are alive (:func:`tree_cpu`): ``utime + stime`` of the worker and its
  live descendants, plus ``cutime + cstime`` for descendants already reaped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
_USER = re.compile(r"User time \(seconds\): ([0-9.]+)")
_SYSTEM = re.compile(r"System time \(seconds\): ([0-9.]+)")


def time_v_cpu(text: str) -> float:
    """User + system seconds from ``/usr/bin/time -v`` output (0 when absent)."""
    total = 0.0
    for pattern in (_USER, _SYSTEM):
        m = pattern.search(text)
        total += float(m.group(1)) if m else 0.0
    return total


def _children(pid: int, proc: Path) -> list[int]:
    found: list[int] = []
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended while we looked
    return found


def descendants(pid: int, proc: Path = PROC) -> list[int]:
    """``pid`` and every live process below it, parents first."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        if current in out:
            continue
        out.append(current)
        todo += _children(current, proc)
    return out


def _ticks(pid: int, proc: Path) -> int:
    """utime + stime + cutime + cstime of one process (0 if it is gone)."""
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except OSError:
        return 0
    # Fields after the ")" that closes the command name: utime is field 14 of stat(5).
    rest = raw[raw.rindex(")") + 2 :].split()
    return sum(int(v) for v in rest[11:15])


def tree_cpu(pids: Iterable[int], proc: Path = PROC) -> float:
    """Core-seconds used so far by the trees rooted at ``pids``.

    A process counted here as a live descendant and later reaped reappears in
    its parent's ``cutime``; the trees measured (Celery workers with a thread
    pool) start no short-lived children, so the difference of two readings is
    the window's CPU.
    """
    seen = {p for pid in pids for p in descendants(pid, proc)}
    return sum(_ticks(p, proc) for p in seen) / _TICK


def pin(pids: Iterable[int], cpus: frozenset[int]) -> None:
    """Restrict every thread of every process in ``pids`` (and below) to ``cpus``.

    Threads started later inherit their creator's mask, so pinning each live
    thread once pins the process for good.
    """
    for root in pids:
        for pid in descendants(root):
            try:
                threads = [int(t.name) for t in (PROC / str(pid) / "task").iterdir()]
            except OSError:
                continue
            for tid in threads:
                try:
                    os.sched_setaffinity(tid, cpus)
                except OSError:
                    continue  # the thread ended while we looked


def all_cpus() -> frozenset[int]:
    """The CPUs this process may run on (the mask to restore after pinning)."""
    return frozenset(os.sched_getaffinity(0))
