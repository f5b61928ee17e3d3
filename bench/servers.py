"""The servers of a benchmark: two registries and Redis, on one chosen address.

With network namespaces the address is the bench bridge (``10.200.0.1``), so
worker hosts reach the servers through their shaped links; without, it is
127.0.0.1. Clients in the root namespace reach either address over loopback.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import time
from pathlib import Path

from lab.registry import LabError, RegistryServer

#: Seconds to wait for Redis to answer PING.
REDIS_START_TIMEOUT = 10.0


class BenchRegistry(RegistryServer):
    """A lab registry listening on ``address:port`` instead of a free loopback port.

    The lab server hard-codes 127.0.0.1 in :attr:`host` and its readiness
    probe, so both are redefined here.
    """

    def __init__(self, address: str, port: int, workdir: Path) -> None:
        super().__init__(workdir=workdir, port=port)
        self.address = address

    @property
    def host(self) -> str:
        """``ADDRESS:PORT``, as it appears in image references."""
        return f"{self.address}:{self.port}"

    def _probe(self) -> bool:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=1)
        try:
            conn.request("GET", "/v2/", headers={"User-Agent": "syncer-lab-probe"})
            return conn.getresponse().status in (200, 401)
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    @property
    def pid(self) -> int | None:
        """The registry process, while it runs (to pin it to CPUs)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def log_size(self) -> int:
        """Bytes in the log so far: where the next run's access log window starts."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def storage_bytes(self) -> int:
        """Bytes held in blob storage (``du`` of the data directory)."""
        root = self.storage_dir / "docker/registry/v2/blobs"
        return sum(p.stat().st_size for p in root.rglob("data") if p.is_file())


class RedisServer:
    """A throwaway ``redis-server`` without persistence, on ``address:port``."""

    def __init__(self, address: str, port: int, workdir: Path) -> None:
        self.address, self.port, self.workdir = address, port, workdir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://ADDRESS:PORT/0``."""
        return f"redis://{self.address}:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait for PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise LabError("redis-server not found on PATH")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--bind", self.address, "--port", str(self.port), "--save", ""]
        argv += ["--appendonly", "no", "--protected-mode", "no", "--dir", str(self.workdir)]
        with open(self.workdir / "redis.log", "ab") as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while time.monotonic() < deadline:
            if self._call("PING") == "+PONG":
                return
            time.sleep(0.05)
        self.stop()
        raise LabError(f"redis-server not ready on {self.address}:{self.port}")

    @property
    def pid(self) -> int | None:
        """The server process, while it runs (to pin it to CPUs)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def flush(self) -> None:
        """Drop every key: each plan run starts from an empty Redis."""
        if self._call("FLUSHALL") != "+OK":
            raise LabError("redis FLUSHALL failed")

    def _call(self, command: str) -> str:
        try:
            with socket.create_connection((self.address, self.port), timeout=2) as sock:
                sock.sendall(command.encode() + b"\r\n")
                return sock.recv(64).decode(errors="replace").strip()
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
