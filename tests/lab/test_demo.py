"""``scripts/demo`` and ``scripts/demo --fleet``, run as a newcomer runs them (a small large layer).

Each run must say what it counts, finish with exit 0, and leave nothing
behind: no listening port it printed, no file in its temporary directory,
also when it is stopped by SIGTERM or Ctrl-C while ``--keep`` holds it open.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.binaries import require_binary
from tests.support.processes import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

_ENDPOINT = re.compile(r"(?:https?|redis)://(127\.0\.0\.1:\d+)|(?<![\d.])(127\.0\.0\.1:\d+)")


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo's environment: its temporary files under the test's own directory."""
    require_binary("docker-registry")
    require_binary("redis-server")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "FLOWER_"))}
    return {**env, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}


def _demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "lab.demo", "--large-layer-mib", "1", *args]


def _endpoints(text: str) -> set[str]:
    """Every ``127.0.0.1:PORT`` the demo printed."""
    return {a or b for a, b in _ENDPOINT.findall(text)}


def _listening(endpoint: str) -> bool:
    host, port = endpoint.split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def _assert_nothing_left(out: str, env: dict[str, str]) -> None:
    endpoints = _endpoints(out)
    assert endpoints, out
    assert not [e for e in endpoints if _listening(e)], "a server outlived the demo"
    assert not list(Path(env["TMPDIR"]).iterdir()), "files outlived the demo"


def test_the_embedded_demo_says_what_it_counts_and_cleans_up(demo_env: dict[str, str]) -> None:
    run = subprocess.run(
        _demo(), env=demo_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "seeding 17 tagged images in 6 repositories" in out, out
    assert "The rules select 15 of the 17 tags" in out and "count 18 images" in out, out
    assert "images: 18 synced, 0 skipped, 0 failed (of 18)" in out, out
    assert "images: 0 synced, 18 skipped, 0 failed (of 18)" in out, out
    assert "18 skipped images not in bytes" in out and "0 B of 0 B" not in out, out
    assert re.search(r"\d+ in the first run, 0 in the second", out), out
    assert "lab/app3: 3 tags listed; 6 images, one per tag and destination" in run.stderr
    assert "--keep" in out and "/tmp" not in out.replace(demo_env["TMPDIR"], "")
    _assert_nothing_left(out, demo_env)


def test_the_fleet_demo_plans_shows_flower_and_metrics_and_stops_it_all(
    demo_env: dict[str, str],
) -> None:
    run = subprocess.run(
        _demo("--fleet"), env=demo_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=200
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert re.search(r"Flower: http://127\.0\.0\.1:\d+ \(user:password demo:\w+\)", out), out
    assert "=== syncer plan config.yaml --wait" in out
    assert "images: 18 synced, 0 skipped, 0 failed (of 18)" in out, out
    assert "images: 0 synced, 18 skipped, 0 failed (of 18)" in out, out
    assert "images 18 synced, 18 unchanged" in out, out  # the workers' own counters
    _assert_nothing_left(out, demo_env)


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """The demo's stdout up to the line holding ``marker``."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in:\n{''.join(seen)[-3000:]}")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_keep_holds_the_fleet_for_commands_until_a_signal(
    demo_env: dict[str, str], stop: signal.Signals
) -> None:
    proc = subprocess.Popen(
        _demo("--fleet", "--keep"),
        env=demo_env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        out = _read_until(proc, "Ctrl-C stops it all", timeout=180)
        [plans] = [line.strip() for line in out.splitlines() if line.strip().endswith("plans")]
        listed = subprocess.run(plans, shell=True, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and listed.stdout.count("finished") == 2, listed
        assert all(_listening(e) for e in _endpoints(out)), "--keep keeps every server up"
        proc.send_signal(stop)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 128 + stop), proc.returncode
    _assert_nothing_left(out + rest, demo_env)
