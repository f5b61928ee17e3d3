"""py-spy profiles of syncer processes, summarised as the functions that use the most time.

``py-spy record --format raw`` writes collapsed stacks, one line per distinct
stack: ``frame;frame;...;leaf COUNT`` with frames like
``read (ssl.py:1166)``. :func:`summarize` folds line numbers away and ranks
functions by self samples (time in the function itself) and by total samples
(time with the function anywhere on the stack).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
#: Samples per second.
RATE = 200


def available() -> bool:
    """Whether py-spy is installed."""
    return shutil.which("py-spy") is not None


def _mode(idle: bool) -> list[str]:
    # py-spy's idle detection does not work on this kernel (every blocked thread
    # counts as busy), so CPU profiles sample only the thread holding the GIL.
    return ["--idle"] if idle else ["--gil"]


def record_prefix(out: Path, *, idle: bool = False) -> list[str]:
    """Prefix a command with this to profile it into ``out``.

    ``idle=False`` samples only the GIL holder (Python CPU time); ``idle=True``
    every thread (wall time, waiting included).
    """
    argv = ["py-spy", "record", "--format", "raw", "--rate", str(RATE), "--subprocesses"]
    return argv + _mode(idle) + ["-o", str(out), "--"]


def attach(pid: int, out: Path, *, idle: bool = False) -> subprocess.Popen[bytes]:
    """Start sampling a running process; :func:`detach` writes the profile."""
    argv = ["py-spy", "record", "--format", "raw", "--rate", str(RATE), "--pid", str(pid)]
    argv += _mode(idle) + ["-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def detach(proc: subprocess.Popen[bytes]) -> None:
    """Stop sampling; py-spy writes its output on SIGINT."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _name(frame: str) -> tuple[str, bool]:
    """``function (package/module.py)``, and whether it is syncer's own code."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), False
    path = m["file"]
    # py-spy names files relative to their sys.path entry: syncer/engine/copypath.py,
    # celery/app/task.py.
    ours = path.startswith(("syncer/", "workers/"))
    return f"{m['func']} ({'/'.join(path.split('/')[-2:])})", ours


def summarize(raws: list[Path], top: int = 12) -> str:
    """The ``top`` functions by self and by total samples over ``raws``, as a text table."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    own: set[str] = set()
    samples = 0
    text = "\n".join(r.read_text(errors="replace") for r in raws if r.exists())
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # The first frame is the process/thread label py-spy adds.
        named = [_name(f) for f in stack.split(";") if "(" in f]
        if not named:
            continue
        frames = [n for n, _ in named]
        own.update(n for n, ours in named if ours)
        samples += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            total_counts[name] += count
    if not samples:
        return "(no samples)"

    def rows(counts: Counter[str], keep: set[str] | None = None) -> list[str]:
        ranked = [(f, n) for f, n in counts.most_common() if keep is None or f in keep]
        return [f"{100 * n / samples:5.1f}  {f}" for f, n in ranked[:top]]

    lines = [f"{samples} samples at {RATE}/s (~{samples / RATE:.1f} s sampled)", ""]
    lines += ["self%  function", *rows(self_counts)]
    lines += ["", "total% syncer/workers function", *rows(total_counts, own)]
    return "\n".join(lines)
