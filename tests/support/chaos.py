"""A :class:`FaultProxy` with a few more tricks, for the fault-injection suite.

It reuses ``tests/support/faultproxy.py`` unchanged and adds, through a
handler subclass:

* :class:`RandomFault`: a fault that fires on a seeded random fraction of the
  requests it matches (``method="*"`` matches every method);
* :class:`BodyFault`: a status fault with a body of our choosing (a 10 KB page
  of control characters, say);
* ``buffer_bodies``: store-and-forward request bodies, as nginx does by
  default (``proxy_request_buffering on``), so a client that dies mid-body
  leaves the registry's upload session untouched;
* ``owners``: attribute every request to the process (of the pids given) that
  holds the client end of its connection, read from ``/proc``.

And the chaos itself: :class:`WorkerChaos` kills workers at random and
replaces them, :func:`kill_redis` kills Redis once, :func:`completed_uploads`
counts what the destination accepted.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from tests.support.faultproxy import (
    _HOP_BY_HOP,
    Fault,
    FaultProxy,
    Recorded,
    _Handler,
)
from tests.support.processes import RedisProcess, WorkerPool, WorkerProcess


@dataclass(slots=True)
class RandomFault(Fault):
    """Fires on a ``probability`` fraction of matching requests, drawn from a seeded RNG."""

    probability: float = 0.1
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        Fault.__post_init__(self)
        self._rng = random.Random(self.seed)

    def take(self, method: str, path: str) -> bool:
        """Count a matching request; fire with the configured probability."""
        if (self.method != "*" and method != self.method) or not self._regex.search(path):
            return False
        self.seen += 1
        if self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


@dataclass(slots=True)
class BodyFault(Fault):
    """A ``status`` fault that answers with ``body`` instead of the proxy's JSON error."""

    body: bytes = b""


class ChaosProxy(FaultProxy):
    """:class:`FaultProxy` plus store-and-forward bodies and per-process attribution."""

    def __init__(self, upstream: str, *, buffer_bodies: bool = False) -> None:
        super().__init__(upstream)
        self.buffer_bodies = buffer_bodies
        #: Pids whose connections we attribute requests to; set before traffic flows.
        self.owners: list[int] = []
        #: id(record) -> pid of the process that sent it (absent when unknown).
        self._senders: dict[int, int] = {}

    def _handler(self) -> type[_Handler]:
        """The extended handler: buffered bodies, attribution to processes."""
        return _ChaosHandler

    def add(self, rule: Fault) -> Fault:
        """Add a prepared fault rule (a :class:`RandomFault` or :class:`BodyFault`)."""
        with self._lock:
            self.faults.append(rule)
        return rule

    def sender(self, record: Recorded) -> int | None:
        """The pid (among :attr:`owners`) that sent ``record``, if known."""
        with self._lock:
            return self._senders.get(id(record))

    def _note_sender(self, record: Recorded, pid: int | None) -> None:
        if pid is not None:
            with self._lock:
                self._senders[id(record)] = pid


def socket_owner(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the loopback TCP socket ``client_port`` -> ``server_port``."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if (
                int(local.rsplit(":", 1)[1], 16) == client_port
                and int(remote.rsplit(":", 1)[1], 16) == server_port
            ):
                inode = parts[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        # `syncer worker` supervises the celery process that owns the sockets.
        for candidate in (pid, *_children(pid)):
            if _holds(candidate, target):
                return pid
    return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _holds(pid: int, target: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


class _ChaosHandler(_Handler):
    _owner: int | None = None
    _owner_known = False

    def _admitted(self, record: Recorded) -> None:
        """Note which worker process sent the request (when the proxy is told its owners)."""
        proxy: ChaosProxy = self.server.proxy  # type: ignore[assignment]
        if proxy.owners and not self._owner_known:
            # One lookup per connection: keep-alive requests share the socket.
            self._owner = socket_owner(self.client_address[1], proxy.port, proxy.owners)
            self._owner_known = self._owner is not None
        proxy._note_sender(record, self._owner)

    def _forward_request(self, upstream, record, limit):  # type: ignore[no-untyped-def]
        proxy: ChaosProxy = self.server.proxy  # type: ignore[assignment]
        if not proxy.buffer_bodies or limit is not None:
            super()._forward_request(upstream, record, limit)
            return
        # Read the whole body before the upstream hears a byte: a client that
        # dies mid-body raises here, and the registry never sees a partial chunk.
        body = b"".join(self._request_body(record))
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                upstream.putheader(name, value)
        if body or self.command in ("PUT", "PATCH", "POST"):
            upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders()
        if body:
            upstream.send(body)

    def _reply_fault(self, record: Recorded, fault: Fault) -> None:
        if not isinstance(fault, BodyFault):
            super()._reply_fault(record, fault)
            return
        self._send_fault(record, fault, fault.body, "text/html")


@dataclass(frozen=True, slots=True)
class Kill:
    """One ``kill -9``: when, and which process (a worker's pid, or Redis's)."""

    at: float
    pid: int
    what: str


@dataclass(slots=True)
class WorkerChaos:
    """Kills a random worker of ``pool`` with ``kill -9`` every few seconds, and replaces it.

    The replacement starts at once, without waiting until it is ready, as a
    container runtime restarts a crashed worker. ``proxy.owners`` follows the
    living workers, so requests stay attributed to their processes.
    """

    pool: WorkerPool
    auth: Path
    env: Mapping[str, str]
    rng: random.Random
    proxy: ChaosProxy | None = None
    concurrency: int = 3
    alive: list[WorkerProcess] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)

    def start(self, count: int) -> None:
        """Start ``count`` workers and wait until they consume."""
        self.alive = self.pool.start(
            count, auth=self.auth, concurrency=self.concurrency, env=self.env
        )
        self._attribute()

    def kill_one(self) -> Kill:
        """``kill -9`` a random living worker's process group; start its replacement."""
        victim = self.rng.choice(self.alive)
        os.killpg(victim.pid, signal.SIGKILL)
        kill = Kill(time.monotonic(), victim.pid, victim.node)
        assert victim.proc is not None
        victim.proc.wait(timeout=10)
        self.alive.remove(victim)
        self.alive += self.pool.start(
            1, auth=self.auth, concurrency=self.concurrency, env=self.env, ready=False
        )
        self._attribute()
        self.kills.append(kill)
        return kill

    def pause(self, low: float, high: float) -> None:
        """Sleep a random ``low``..``high`` seconds, drawn from the seeded generator."""
        time.sleep(self.rng.uniform(low, high))

    def _attribute(self) -> None:
        if self.proxy is not None:
            # Every pid ever started, so a request of a worker killed since still has its sender.
            self.proxy.owners = [w.pid for w in self.pool.started]


def kill_redis(server: RedisProcess, down: float = 1.0) -> Kill:
    """``kill -9`` Redis, and start it again on its port ``down`` seconds later."""
    kill = Kill(time.monotonic(), server.pid, "redis-server")
    os.kill(server.pid, signal.SIGKILL)
    assert server.proc is not None
    server.proc.wait(timeout=10)
    time.sleep(down)
    server.start()
    server.wait_ready()
    return kill


def completed_uploads(proxy: ChaosProxy) -> dict[str, list[Recorded]]:
    """Each digest whose whole upload the destination accepted (a PUT answered 201): its PUTs."""
    uploads: dict[str, list[Recorded]] = {}
    for put in proxy.recorded("PUT", r"/blobs/uploads/"):
        digest = parse_qs(put.query).get("digest", [""])[0]
        if put.status == 201 and digest:
            uploads.setdefault(digest, []).append(put)
    return uploads
