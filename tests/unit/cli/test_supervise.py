"""``syncer worker``'s supervisor, with real processes and real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.support.waiting import wait_for

SUPERVISOR = (
    "import os, sys\n"
    "from syncer.cli.supervise import supervise\n"
    "sys.exit(supervise(sys.argv[1:], dict(os.environ)))\n"
)

#: Records the first signal it gets, then exits 0; says when it is ready.
LISTENER = """
import pathlib, signal, sys, time
out, ready = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def on(sig, frame):
    out.write_text(signal.Signals(sig).name)
    sys.exit(0)
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, on)
ready.write_text("ready")
time.sleep(30)
sys.exit(5)
"""

#: Fails on its first run, succeeds on the second; counts its runs.
FLAKY = """
import pathlib, sys
runs = pathlib.Path(sys.argv[1])
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
sys.exit(3 if n == 1 else 0)
"""


def _supervise(tmp_path: Path, script: str, *args: str) -> subprocess.Popen[bytes]:
    child = tmp_path / "child.py"
    child.write_text(script)
    return subprocess.Popen([sys.executable, "-c", SUPERVISOR, sys.executable, str(child), *args])


def test_ctrl_c_reaches_the_child_as_a_warm_sigterm(tmp_path: Path) -> None:
    got, ready = tmp_path / "signal", tmp_path / "ready"
    proc = _supervise(tmp_path, LISTENER, str(got), str(ready))
    wait_for("the child to start", lambda: ready.exists() or proc.poll() is not None, 20, 0.05)
    assert proc.poll() is None, "the supervisor ended before its child started"

    proc.send_signal(signal.SIGINT)  # the supervisor only, as a signal to its PID

    assert proc.wait(timeout=20) == 0
    assert got.read_text() == "SIGTERM"  # Celery's warm shutdown, never a cold one


def test_a_child_that_fails_is_restarted(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = _supervise(tmp_path, FLAKY, str(runs))

    assert proc.wait(timeout=30) == 0
    assert runs.read_text() == "2"
