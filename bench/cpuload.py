"""Where the machine's CPU went during one timed run.

On a 2-core machine the bench runs registries, Redis, workers and the copier
side by side, so a slow run may be a starved run. :class:`CpuMeter` reads
``/proc/stat`` (all CPUs) and ``/proc/PID/stat`` (each process) before and
after the run and reports how busy the CPUs were and which programs used the
time. Processes that ended inside the window (the planner, skopeo) are not
visible afterwards; their share is left in "other", together with the kernel's
own work (softirqs of the veths, tbf and the bridge).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")
#: Kernel threads are summed under one name (their names carry work-queue details).
_KERNEL_THREADS = ("kworker", "ksoftirqd", "rcu_", "kdamond", "migration", "kswapd", "jbd2")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    fields = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def _process_ticks() -> dict[int, tuple[str, int]]:
    """PID -> (program name, user + system jiffies) for every process we can read."""
    seen: dict[int, tuple[str, int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone already
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        if name.startswith(_KERNEL_THREADS):
            name = "kernel threads"
        rest = raw[raw.rindex(")") + 2 :].split()
        seen[int(entry.name)] = (name, int(rest[11]) + int(rest[12]))  # utime, stime
    return seen


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU use over one window: how busy, and core-seconds by program."""

    wall_cores: float  # core-seconds available: wall x CPUs
    busy: float  # core-seconds not idle
    by_program: dict[str, float]

    def summary(self) -> str:
        """``CPU 97% busy (43.1 of 44.4 core-s): python 20.1, docker-registry 9.3, ...``."""
        if self.wall_cores <= 0:
            return "CPU: no window"
        named = sorted(self.by_program.items(), key=lambda kv: -kv[1])
        other = max(0.0, self.busy - sum(self.by_program.values()))
        parts = [f"{name} {secs:.1f}" for name, secs in named if secs >= 0.05]
        parts.append(f"other/kernel {other:.1f}")
        return (
            f"CPU {100 * self.busy / self.wall_cores:.0f}% busy "
            f"({self.busy:.1f} of {self.wall_cores:.1f} core-s): " + ", ".join(parts)
        )


class CpuMeter:
    """``with CpuMeter() as m: ...`` then ``m.use``: CPU use inside the block."""

    def __init__(self) -> None:
        self.use: CpuUse | None = None

    def __enter__(self) -> CpuMeter:
        self._machine = _machine_ticks()
        self._procs = _process_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        busy0, total0 = self._machine
        busy1, total1 = _machine_ticks()
        by_program: dict[str, float] = {}
        for pid, (name, ticks) in _process_ticks().items():
            before = self._procs.get(pid)
            # A PID seen before under another name was reused: count it all.
            start = before[1] if before and before[0] == name else 0
            if ticks > start:
                by_program[name] = by_program.get(name, 0.0) + (ticks - start) / _TICK
        self.use = CpuUse((total1 - total0) / _TICK, (busy1 - busy0) / _TICK, by_program)
