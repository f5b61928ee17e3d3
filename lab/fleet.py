"""A throwaway fleet on loopback for the demo: ``redis-server``, ``syncer worker`` s and Flower.

Each process runs in a session of its own with its log in the work
directory, and :meth:`LabProcess.stop` ends its whole group (``syncer
worker`` supervises a Celery child): SIGTERM first, SIGKILL after a grace
period. Everything binds to 127.0.0.1. Use them as context managers, so a
Ctrl-C or an error stops what was started.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType

from lab.registry import LabError, free_port, terminate

#: Seconds a process has to become ready: a Celery worker takes a few on a busy machine.
START_TIMEOUT = 60.0
#: Seconds between SIGTERM and SIGKILL: a warm worker shutdown finishes quickly when idle.
STOP_GRACE = 10.0


class LabProcess:
    """One child process, its log file, and a readiness check."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        ready: Callable[[LabProcess], bool],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name, self.argv, self.log_path = name, list(argv), log_path
        self._ready, self._env = ready, dict(env if env is not None else os.environ)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """Everything the process logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> None:
        """Spawn the process in its own session; wait until it is ready, or stop it and raise."""
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready(self):
            if not self.running or time.monotonic() > deadline:
                tail = "\n".join(self.log_text().splitlines()[-15:])
                self.stop()
                raise LabError(f"{self.name} did not start (log {self.log_path}):\n{tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to its whole group after :data:`STOP_GRACE`; always reaps."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        terminate(proc, STOP_GRACE)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # children left behind by a killed parent

    def __enter__(self) -> LabProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers_ping(port: int) -> Callable[[LabProcess], bool]:
    def ready(_: LabProcess) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    return ready


def redis(workdir: Path) -> tuple[LabProcess, str]:
    """A ``redis-server`` without persistence on a free port, and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LabError("redis-server not found on PATH (scripts/setup installs it)")
    port = free_port()
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir)]
    process = LabProcess("redis-server", argv, workdir / "redis.log", _answers_ping(port))
    return process, f"redis://127.0.0.1:{port}/0"


def _logged(pattern: str) -> Callable[[LabProcess], bool]:
    regex = re.compile(pattern)
    return lambda process: bool(regex.search(process.log_text()))


def worker(node: str, env: Mapping[str, str], workdir: Path, *, proc: int) -> LabProcess:
    """``syncer worker -n NODE -p PROC``; ready once Celery logs ``NODE ready.``."""
    argv = [sys.executable, "-m", "syncer", "worker", "-n", node, "-p", str(proc)]
    log = workdir / f"{node.split('@')[0]}.log"
    return LabProcess(node, argv, log, _logged(re.escape(node) + r" ready\."), env)


def flower(env: Mapping[str, str], workdir: Path) -> tuple[LabProcess, str, str]:
    """Flower with a fresh Basic-auth login on a free port: the process, its URL and the login."""
    port = free_port()
    login = f"demo:{secrets.token_hex(6)}"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "flower",
        "--address=127.0.0.1",
        f"--port={port}",
        "--tasks_columns=name,uuid,state,kwargs,received,started,runtime,worker",
    ]
    url = f"http://127.0.0.1:{port}"
    # Flower logs this line once its web server listens. The login goes by
    # environment, which `ps` does not show.
    ready = _logged(r"Visit me at http")
    env = {**env, "FLOWER_BASIC_AUTH": login}
    return LabProcess("flower", argv, workdir / "flower.log", ready, env), url, login
