"""A real ``docker-registry`` (distribution 2.8) process on a free loopback port.

The server writes its config, storage and log into one work directory. Its
access log (combined log format, one line per request) and its own log both
go to ``registry.log``, so benchmarks can count requests with
:meth:`RegistryServer.count_requests`.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from lab.registry_config import HtpasswdAuth, TokenAuth, registry_config
from syncer.errors import SyncerError

__all__ = [
    "HtpasswdAuth",
    "LabError",
    "RegistryServer",
    "TokenAuth",
    "find_registry_binary",
    "free_port",
]

#: Environment variable naming the registry binary, overriding the PATH lookup.
BINARY_ENV = "SYNCER_REGISTRY_BINARY"
#: Name of distribution's binary in the Debian package.
BINARY_NAME = "docker-registry"
#: Seconds to wait for ``GET /v2/`` to answer after starting.
START_TIMEOUT = 15.0
#: Seconds to wait after SIGTERM before SIGKILL.
STOP_TIMEOUT = 5.0

#: User-Agent of the readiness probe, left out of :meth:`RegistryServer.count_requests`.
PROBE_AGENT = "syncer-lab-probe"

_ACCESS_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) .*"(?P<agent>[^"]*)"$',
    re.MULTILINE,
)


class LabError(SyncerError):
    """A lab server could not be started, or seeding a registry failed."""


def find_registry_binary() -> str | None:
    """Path of the ``docker-registry`` binary (or ``$SYNCER_REGISTRY_BINARY``), or None."""
    override = os.environ.get(BINARY_ENV)
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which(BINARY_NAME)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RegistryServer:
    """One ``docker-registry serve`` process with a generated config."""

    def __init__(
        self,
        *,
        auth: HtpasswdAuth | TokenAuth | None = None,
        tls: tuple[str, str] | None = None,
        workdir: str | Path | None = None,
        port: int | None = None,
        binary: str | None = None,
        notify: list[dict[str, Any]] | None = None,
    ) -> None:
        self.auth = auth
        self.notify = notify
        self.tls = tls
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="syncer-lab-registry-"))
        self.port = port or free_port()
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        # One secret per server keeps upload state valid across restarts (see wipe()).
        self._secret = "syncer-lab-" + secrets.token_hex(8)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry host as it appears in image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL, ``http(s)://127.0.0.1:PORT``."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def log_path(self) -> Path:
        """The file receiving the registry's log and access log."""
        return self.workdir / "registry.log"

    @property
    def storage_dir(self) -> Path:
        """Root directory of the filesystem storage driver."""
        return self.workdir / "storage"

    @property
    def config_path(self) -> Path:
        """The generated YAML config."""
        return self.workdir / "config.yml"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def config(self) -> dict[str, Any]:
        """The registry configuration as a dict (written as YAML by :meth:`start`)."""
        return registry_config(
            addr=self.host,
            storage_dir=self.storage_dir,
            secret=self._secret,
            auth=self.auth,
            tls=self.tls,
            notify=self.notify,
        )

    def start(self) -> None:
        """Start the process and wait until ``GET /v2/`` answers 200 or 401."""
        if self.running:
            return
        binary = self._binary or find_registry_binary()
        if binary is None:
            raise LabError(f"{BINARY_NAME} not found on PATH (or set ${BINARY_ENV})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        # REGISTRY_* variables override the config file; keep them out.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [binary, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                code = self._proc.returncode if self._proc else None
                self.stop()
                raise LabError(f"registry exited with {code}:\n{self.log_tail()}")
            if self._probe():
                return
            time.sleep(0.05)
        self.stop()
        raise LabError(f"registry not ready after {START_TIMEOUT}s:\n{self.log_tail()}")

    def _probe(self) -> bool:
        conn: http.client.HTTPConnection
        if self.tls:
            # Liveness only: certificate checks are the business of the tests.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=1, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            conn.request("GET", "/v2/", headers={"User-Agent": PROBE_AGENT})
            return conn.getresponse().status in (200, 401)
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        """Terminate the process, killing it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def wipe(self) -> None:
        """Stop, delete all stored content, and start again on the same port."""
        self.stop()
        shutil.rmtree(self.storage_dir, ignore_errors=True)
        self.start()

    def close(self) -> None:
        """Stop, and remove the work directory if this server created it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        """Everything the registry logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def count_requests(self, method: str, path_contains: str = "") -> int:
        """How many requests (not counting readiness probes) match ``method`` and path."""
        return sum(
            1
            for m in _ACCESS_LINE.finditer(self.log_text())
            if m["method"] == method and path_contains in m["path"] and m["agent"] != PROBE_AGENT
        )

    def __enter__(self) -> RegistryServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RegistryServer({self.url}, auth={type(self.auth).__name__}, running={self.running})"
        )
