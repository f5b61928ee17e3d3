"""Real ``redis-server``, Celery worker, Flower and ``syncer`` CLI processes for fleet tests.

Each process logs to a file of its own, so a test can grep it afterwards (for
a leaked credential, a task outcome) and a failure can show its tail. Stops
are SIGTERM, then SIGKILL after a grace period; nothing is killed by name.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import redis
import requests

from lab.registry import free_port

#: Where ``python -m syncer`` and ``-A workers.app`` resolve (the package is editable).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Seconds a process gets to become ready.
START_TIMEOUT = 45.0
#: Seconds between SIGTERM and SIGKILL.
STOP_GRACE = 8.0

#: The ``workers`` fixture: ``workers(n, auth=..., concurrency=...)`` -> started workers.
WorkerFactory = Callable[..., list["WorkerProcess"]]
#: The ``syncer_cli`` fixture: ``syncer_cli(*args, timeout=...)`` -> a finished run.
RunCli = Callable[..., "CliRun"]


def fleet_env(redis_url: str, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every fleet process: this Redis, no user docker config or defaults."""
    docker_config = home / "docker-config"
    docker_config.mkdir(parents=True, exist_ok=True)
    drop = ("DEFAULT_REGISTRY", "DEFAULT_NAMESPACE", "SYNCER_AUTH_FILE", "SYNCER_REDIS_URL")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("REGISTRY_", "CELERY_", "FLOWER_"))
    }
    env.update(
        SYNCER_REDIS_URL=redis_url,
        DOCKER_CONFIG=str(docker_config),
        XDG_CACHE_HOME=str(home / "xdg-cache"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


#: A started process that can say when it is ready (Redis, Flower).
Ready = TypeVar("Ready", bound="ManagedProcess")


class ManagedProcess:
    """A child process whose stdout and stderr go to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.name, self.argv, self.env, self.log_path, self.cwd = (
            name,
            list(argv),
            env,
            log_path,
            cwd,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn the process in a session of its own."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env),
                cwd=self.cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, pattern: str, timeout: float = START_TIMEOUT) -> None:
        """Block until ``pattern`` (a regex) appears in the log; fail with the tail if not."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if regex.search(self.log_text()):
                return
            if not self.running:
                raise AssertionError(
                    f"{self.name} exited with {self.proc and self.proc.returncode}"
                    f" before /{pattern}/:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no /{pattern}/ after {timeout}s:\n{self.log_tail()}")

    def terminate(self) -> None:
        """Send SIGTERM (Celery's warm shutdown) if still running."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps, children too.

        ``syncer worker`` runs Celery as its child: killing only the parent
        would leave that worker running, orphaned, after a failed test.
        """
        if self.proc is None:
            return
        self.terminate()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: see start()


class RedisProcess(ManagedProcess):
    """``redis-server`` on a free loopback port: no persistence, a password, many databases.

    The password is there so tests can check that no Redis URL leaks it.
    """

    DATABASES = 1024

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        self.password = "redis-" + secrets.token_urlsafe(12)
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            str(self.DATABASES),
            "--dir",
            str(workdir),
            "--requirepass",
            self.password,
        ]
        super().__init__("redis-server", argv, dict(os.environ), workdir / "redis.log", cwd=workdir)
        self._databases = itertools.count(1)  # 0 is left alone: nothing may fall back to it

    def url(self, db: int = 0) -> str:
        """``redis://:PASSWORD@127.0.0.1:PORT/DB``."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Block until PING answers."""
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url(), socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if not self.running:
                    raise AssertionError(f"redis-server exited:\n{self.log_tail()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise AssertionError(f"redis-server not ready after {timeout}s:\n{self.log_tail()}")

    @contextmanager
    def database(self) -> Iterator[str]:
        """The URL of a database no one else uses, flushed before and after."""
        db = next(self._databases)
        assert db < self.DATABASES, "more tests than Redis databases"
        url = self.url(db)
        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
            yield url
            client.flushdb()
        finally:
            client.close()


class WorkerProcess(ManagedProcess):
    """``python -m syncer worker``: a Celery worker with syncer's defaults."""

    def __init__(
        self, node: str, env: Mapping[str, str], log_path: Path, *, concurrency: int, loglevel: str
    ) -> None:
        argv = [
            sys.executable,
            "-m",
            "syncer",
            "worker",
            "-n",
            node,
            "-p",
            str(concurrency),
            "--loglevel",
            loglevel,
        ]
        super().__init__(node, argv, env, log_path)
        self.node = node

    def wait_ready(self) -> None:
        """Celery logs ``<node> ready.`` once its consumer is up (INFO and below)."""
        self.wait_for_log(re.escape(self.node) + r" ready\.")


class WorkerPool:
    """Starts workers against one Redis database; :meth:`stop` ends them all."""

    def __init__(self, redis_url: str, home: Path) -> None:
        self.redis_url, self.home = redis_url, home
        self.started: list[WorkerProcess] = []

    def start(
        self,
        count: int = 2,
        *,
        auth: Path,
        concurrency: int = 3,
        loglevel: str = "INFO",
        env: Mapping[str, str] | None = None,
        ready: bool = True,
    ) -> list[WorkerProcess]:
        """Start ``count`` workers with ``auth`` as their auth file; return once all are ready.

        ``ready=False`` returns at once, as a runtime restarting a crashed worker does.
        """
        assert loglevel in ("INFO", "DEBUG"), "readiness is read from the INFO log"
        base = fleet_env(self.redis_url, self.home, {"SYNCER_AUTH_FILE": str(auth), **(env or {})})
        suffix = secrets.token_hex(3)
        batch = []
        for _ in range(count):
            n = len(self.started)
            worker = WorkerProcess(
                f"w{n}-{suffix}@fleet",
                base,
                self.home / f"worker{n}.log",
                concurrency=concurrency,
                loglevel=loglevel,
            )
            worker.start()
            self.started.append(worker)
            batch.append(worker)
        for worker in batch if ready else ():
            worker.wait_ready()
        return batch

    def stop(self) -> None:
        """Warm-shut every worker down at once, then reap them (SIGKILL after the grace)."""
        for worker in self.started:
            worker.terminate()
        for worker in self.started:
            worker.stop()


class FlowerProcess(ManagedProcess):
    """``celery -A workers.app flower`` with Basic auth on a free loopback port."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        workdir: Path,
        auth: tuple[str, str] = ("user", "pass"),
    ) -> None:
        self.port, self.auth = free_port(), auth
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "flower",
            "--address=127.0.0.1",
            f"--port={self.port}",
            f"--basic-auth={auth[0]}:{auth[1]}",
        ]
        super().__init__("flower", argv, env, log_path, cwd=workdir)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **params: Any) -> requests.Response:
        """An authenticated GET."""
        return requests.get(self.url + path, params=params, auth=self.auth, timeout=30)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until ``/healthcheck`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise AssertionError(f"flower exited:\n{self.log_tail()}")
            try:
                if self.get("/healthcheck").status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"flower not ready after {timeout}s:\n{self.log_tail()}")


@contextmanager
def running(server: Ready) -> Iterator[Ready]:
    """``server`` started and ready; stopped on exit, even if it never got ready."""
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@contextmanager
def running_flower(redis_url: str, home: Path) -> Iterator[FlowerProcess]:
    """A ready Flower on ``redis_url``, stopped on exit."""
    workdir = home / "flower"
    workdir.mkdir()
    with running(FlowerProcess(fleet_env(redis_url, home), home / "flower.log", workdir)) as server:
        yield server


@dataclass(frozen=True)
class CliRun:
    """What one ``python -m syncer`` invocation did."""

    argv: list[str]
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        """Stdout parsed as JSON."""
        try:
            return json.loads(self.out)  # type: ignore[no-any-return]
        except ValueError as exc:
            raise AssertionError(f"{self}: stdout is not JSON") from exc

    def __str__(self) -> str:
        return (
            f"syncer {' '.join(self.argv)} -> {self.code}\n--- stdout\n{self.out}"
            f"\n--- stderr\n{self.err}"
        )


def run_cli(args: Sequence[str | Path], env: Mapping[str, str], timeout: float = 90.0) -> CliRun:
    """Run ``python -m syncer ARGS`` to completion (killed after ``timeout`` seconds)."""
    argv = [str(a) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "syncer", *argv],
        env=dict(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliRun(argv, proc.returncode, proc.stdout, proc.stderr)


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, wait for it, and close its stdout."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
