"""The Redis container of deploy/k8s, run as written against a real ``redis-server``.

Its command and arguments come from ``deploy/k8s/redis.yaml``; only the data
directory, the port and the bind address change to fit a test. It must
refuse a client without the password, take one with it, keep the password
out of the process list, and never evict. Its readiness probe must tell a
Redis that answers the password from one that does not.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from lab.registry import free_port
from tests.support.binaries import require_binary
from tests.support.k8s import manifests, pods

pytestmark = pytest.mark.integration

PASSWORD = "0123456789abcdef0123456789abcdef"


def _container() -> dict[str, Any]:
    [pod] = [p for p in pods(manifests()) if p.name.startswith("redis.yaml:Deployment")]
    container: dict[str, Any] = pod.spec["containers"][0]
    return container


@pytest.fixture
def k8s_redis(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The container's command on a free port; stopped at teardown."""
    require_binary("redis-server")
    container = _container()
    args = list(container["args"])
    args[args.index("--dir") + 1] = str(tmp_path)  # /data in the pod
    port = free_port()
    argv = [*container["command"], *args, "--port", str(port), "--bind", "127.0.0.1"]
    env = {**os.environ, "REDIS_PASSWORD": PASSWORD}
    with open(tmp_path / "redis.log", "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        client = redis.Redis(port=port, password=PASSWORD, socket_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None, (tmp_path / "redis.log").read_text()
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)
        client.close()
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_refuses_a_client_without_the_password(
    k8s_redis: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, proc = k8s_redis
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, socket_timeout=1).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="wrong", socket_timeout=1).ping()
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=1, decode_responses=True)
    assert client.ping()
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert int(client.config_get("maxmemory")["maxmemory"]) == 768 << 20
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.close()
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    assert cmdline.startswith(b"redis-server") and PASSWORD.encode() not in cmdline, cmdline


def test_the_readiness_probe_needs_the_password_to_pass(
    k8s_redis: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, _ = k8s_redis
    shell, flag, script = _container()["readinessProbe"]["exec"]["command"]
    script = script.replace("redis-cli", f"redis-cli -p {port}")  # 6379 in the pod

    def probe(password: str) -> int:
        env = {**os.environ, "REDIS_PASSWORD": password}
        return subprocess.run([shell, flag, script], env=env, timeout=10, check=False).returncode

    assert probe(PASSWORD) == 0
    assert probe("wrong") != 0
