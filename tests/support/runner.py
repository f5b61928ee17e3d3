"""Run ``syncer`` as a real subprocess and measure what it did: exit code, output, time, memory.

Hostile tests run the CLI out of process so that a hang, a memory blow-up or
a signal cannot take the test runner with it. :func:`run_syncer` kills the
process group when the deadline passes, and reads the child's own peak RSS
from ``wait4``'s rusage (not the whole test session's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one ``syncer`` process did."""

    code: int
    out: str
    err: str
    #: Wall-clock seconds from start to exit.
    elapsed: float
    #: The process's peak resident set size, in MiB.
    peak_rss_mib: float
    #: True if the deadline passed and the process group was killed.
    killed: bool

    @property
    def text(self) -> str:
        """stdout and stderr together, for searching."""
        return self.out + self.err


def isolated_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with no user docker config, cache or default registry."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DEFAULT_REGISTRY", "DEFAULT_NAMESPACE")
    }
    (home / "docker").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "DOCKER_CONFIG": str(home / "docker"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "HOME": str(home),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def run_syncer(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    deadline: float = 60.0,
    signal_after: float | None = None,
    signum: int = signal.SIGTERM,
    program: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run ``python -m syncer ARGS``; optionally send ``signum`` after ``signal_after`` seconds.

    ``program`` replaces ``python -m syncer``, e.g. with another venv's ``syncer`` script.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            [*(program or (sys.executable, "-m", "syncer")), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        status, peak_kib, killed, signalled = _wait(proc, start, deadline, signal_after, signum)
        elapsed = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        return Outcome(
            code,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            elapsed,
            peak_kib / 1024.0,
            killed,
        )


def _wait(
    proc: subprocess.Popen[bytes],
    start: float,
    deadline: float,
    signal_after: float | None,
    signum: int,
) -> tuple[int, int, bool, bool]:
    """Wait for the child; return its status and its peak RSS in KiB.

    The peak is the kernel's high-water mark of the child's own address space
    (``VmHWM``), read while it runs. ``wait4``'s ``ru_maxrss`` would not do:
    Linux carries the forking parent's resident size across ``exec`` into it,
    so every child of a large test process would look as large.
    """
    killed = signalled = False
    peak = 0
    while True:
        peak = max(peak, _hwm_kib(proc.pid))
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, peak, killed, signalled
        now = time.monotonic() - start
        if signal_after is not None and not signalled and now >= signal_after:
            os.kill(proc.pid, signum)
            signalled = True
        if now >= deadline and not killed:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.02)


def _hwm_kib(pid: int) -> int:
    """``VmHWM`` of ``pid`` in KiB, or 0 once it is gone (a zombie has none)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
