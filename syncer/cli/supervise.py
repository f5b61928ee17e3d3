"""Keep one child process running: ``syncer worker`` around ``celery worker``.

Celery's worker can stop on an error it deems unrecoverable; one seen here is
kombu failing while it restores unacknowledged messages during a Redis
restart. Containers restart such a worker, a plain shell does not, so
``syncer worker`` does it itself. Signals are forwarded (SIGTERM still means
a warm shutdown) and a worker stopped by one is not restarted.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

from syncer.backoff import Backoff

log = logging.getLogger(__name__)

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)
#: A crashed worker is restarted after RESTART_FIRST seconds, doubling up to
#: RESTART_MAX, so a worker that cannot start does not spin; one that ran for
#: RESTART_HEALTHY seconds was healthy, and starts the delays over.
RESTART_FIRST, RESTART_MAX, RESTART_HEALTHY = 1.0, 30.0, 60.0


def supervise(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``argv`` until it exits cleanly or is told to stop; return its exit code."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            # On a terminal, Ctrl-C already reached the child too, and a second
            # SIGINT would make Celery shut down cold; SIGTERM is always warm.
            child.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    backoff, crashes = Backoff(RESTART_FIRST, RESTART_MAX), 0
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen(list(argv), env=dict(env))
            code = child.wait()
            if stopping or code == 0:
                return code
            healthy = time.monotonic() - started > RESTART_HEALTHY
            crashes = 1 if healthy else crashes + 1
            delay = backoff.delay(crashes)
            log.warning("worker exited with status %d; restarting in %.0fs", code, delay)
            time.sleep(delay)
            if stopping:
                return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
