"""Simulated worker hosts: network namespaces on a bridge, each link shaped with tbf.

Layout (every name starts with :data:`~bench.settings.NET_PREFIX`)::

    root namespace: bridge sbench-br, 10.200.0.1/24  (registries and Redis listen here)
       ├── veth sbench-h1a ── [netns sbench-h1] eth0 10.200.0.11/24
       ├── veth sbench-h2a ── [netns sbench-h2] eth0 10.200.0.12/24
       └── ...

Each link is shaped to ``rate`` in both directions with a token bucket on
the egress of both veth ends: the root end's egress is the host's download
(source registry → worker), the namespace end's egress its upload (worker →
destination registry). netem is not available here, so links add no delay.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field

from bench.settings import BRIDGE_ADDR, NET_PREFIX

log = logging.getLogger(__name__)

BRIDGE = f"{NET_PREFIX}-br"
PREFIX_LEN = 24


class NetnsUnavailable(RuntimeError):
    """Network namespaces, veths, bridges or tbf cannot be set up here."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NetnsUnavailable(f"{' '.join(argv)}: {done.stderr.strip()}")


def host_name(i: int) -> str:
    """The namespace of worker host ``i`` (1-based)."""
    return f"{NET_PREFIX}-h{i}"


def tbf(dev: str, mbit: int, netns: str | None = None) -> list[str]:
    """The ``tc`` command shaping ``dev``'s egress to ``mbit``.

    The bucket holds 1 ms of traffic plus room for a 64 KiB GSO super-packet;
    the queue holds up to 50 ms, which TCP needs to keep the link full.
    """
    burst = max(mbit * 1000 // 8, 64 * 1024 + 1514)
    cmd = ["tc", "qdisc", "replace", "dev", dev, "root", "tbf"]
    cmd += ["rate", f"{mbit}mbit", "burst", str(burst), "latency", "50ms"]
    return (["ip", "netns", "exec", netns] if netns else []) + cmd


@dataclass
class Network:
    """The bench bridge and ``hosts`` shaped namespaces; :meth:`close` removes all of it."""

    hosts: int
    mbit: int
    names: list[str] = field(default_factory=list)

    @staticmethod
    def check() -> str | None:
        """Why namespaces cannot be used here, or None if they can."""
        if os.geteuid() != 0:
            return "network namespaces need root (ip netns add)"
        probe = f"{NET_PREFIX}-probe"
        try:
            _run(["ip", "netns", "add", probe])
        except (NetnsUnavailable, OSError) as exc:
            return f"cannot create a network namespace: {exc}"
        finally:
            _ip("netns", "del", probe, check=False)
        return None

    def open(self) -> None:
        """Create the bridge, namespaces, veths, addresses and qdiscs."""
        cleanup_leftovers()
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        _run(["ip", "addr", "add", f"{BRIDGE_ADDR}/{PREFIX_LEN}", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        for i in range(1, self.hosts + 1):
            self._add_host(i)

    def _add_host(self, i: int) -> None:
        ns, outer, inner = host_name(i), f"{NET_PREFIX}-h{i}a", f"{NET_PREFIX}-h{i}b"
        address = BRIDGE_ADDR.rsplit(".", 1)[0] + f".{10 + i}"
        _run(["ip", "netns", "add", ns])
        self.names.append(ns)
        _run(["ip", "link", "add", outer, "type", "veth", "peer", "name", inner])
        _run(["ip", "link", "set", inner, "netns", ns])
        _run(["ip", "link", "set", outer, "master", BRIDGE, "up"])
        inside = ["ip", "netns", "exec", ns, "ip"]
        _run([*inside, "link", "set", "lo", "up"])
        _run([*inside, "link", "set", inner, "name", "eth0"])
        _run([*inside, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", "eth0"])
        _run([*inside, "link", "set", "eth0", "up"])
        _run(tbf(outer, self.mbit))
        _run(tbf("eth0", self.mbit, ns))

    def close(self) -> None:
        """Delete everything :meth:`open` made (deleting a veth drops its qdisc)."""
        cleanup_leftovers()
        self.names.clear()


def cleanup_leftovers() -> None:
    """Remove every bench namespace, veth and the bridge, also from a crashed earlier run."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(NET_PREFIX + "-"):
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        dev = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if dev.startswith(NET_PREFIX + "-"):
            _ip("link", "del", dev, check=False)


def _sent_bytes(argv: list[str]) -> int:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["Sent"]:
            return int(words[1])
    return 0


def shaped_bytes(i: int) -> tuple[int, int]:
    """Bytes host ``i``'s two token buckets have passed so far: (download, upload)."""
    down = _sent_bytes(["tc", "-s", "qdisc", "show", "dev", f"{NET_PREFIX}-h{i}a"])
    up = _sent_bytes(
        ["ip", "netns", "exec", host_name(i), "tc", "-s", "qdisc", "show", "dev", "eth0"]
    )
    return down, up


def link_check(i: int, url: str) -> float:
    """Download ``url`` from inside host ``i`` with curl; the rate achieved, in Mbit/s."""
    argv = [
        "ip",
        "netns",
        "exec",
        host_name(i),
        "curl",
        "-sf",
        "-o",
        "/dev/null",
        "-w",
        "%{speed_download}",
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    return float(done.stdout or 0) * 8 / 1e6
