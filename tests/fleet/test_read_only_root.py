"""The Kubernetes containers' commands run on a read-only root with only /tmp writable.

deploy/k8s sets ``readOnlyRootFilesystem`` on every container and mounts an
``emptyDir`` at /tmp. Here each syncer container's command (worker, beat,
``syncer metrics``, Flower), taken from its manifest, runs under bubblewrap
with the whole filesystem mounted read-only and a tmpfs at /tmp, against a
real Redis and registries: the worker copies an image for a plan, the beat
takes its lock, ``/metrics`` and Flower answer, and the probes pass.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from lab.registry import free_port
from tests.support.binaries import require_binary
from tests.support.k8s import manifests, pods
from tests.support.processes import ManagedProcess, RunCli, fleet_env
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure, seed, small_image, write_json

#: This checkout (the editable install's sources).
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _command(component: str) -> list[str]:
    """The container's command line as the image runs it (ENTRYPOINT ``syncer``)."""
    [pod] = [p for p in pods(manifests()) if p.labels["app.kubernetes.io/component"] == component]
    container = pod.spec["containers"][0]
    if "command" in container:
        return [str(a) for a in container["command"]]
    return ["syncer", *[str(a) for a in container["args"]]]


def _port(argv: list[str], flag: str, port: int) -> list[str]:
    """``argv`` with the value of ``flag`` (``--port 9809`` or ``--port=5555``) set to ``port``."""
    out = []
    for i, word in enumerate(argv):
        if word.startswith(flag + "="):
            word = f"{flag}={port}"
        elif i and argv[i - 1] == flag:
            word = str(port)
        out.append(word.replace("0.0.0.0", "127.0.0.1"))
    return out


def _read_only(argv: list[str], home: Path) -> list[str]:
    """Run ``argv`` (``syncer …`` or ``celery …``) from this venv on a read-only root.

    ``home`` (the auth file, as the pod's Secret mount) is read-only too, and
    shown again over the empty /tmp that hides it.
    """
    python = [sys.executable, "-m", argv[0], *argv[1:]]
    bwrap = require_binary("bwrap")
    # A checkout or venv under /tmp (a clone made there) is shown again, read-only, too.
    shown = {str(home), *(p for p in (sys.prefix, str(ROOT)) if p.startswith("/tmp/"))}
    binds = [word for path in sorted(shown) for word in ("--ro-bind", path, path)]
    return [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            *binds, "--chdir", "/", "--", *python]  # fmt: skip


def _until(what: str, ok: Callable[[], bool], process: ManagedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert process.running, f"{process.name} exited:\n{process.log_tail()}"
        assert time.monotonic() < deadline, f"{what}:\n{process.log_tail()}"
        time.sleep(0.3)


def _answers(url: str, **kwargs: object) -> Callable[[], bool]:
    def ok() -> bool:
        try:
            return requests.get(url, timeout=2, **kwargs).status_code == 200  # type: ignore[arg-type]
        except requests.ConnectionError:
            return False

    return ok


@pytest.fixture
def started(redis_server: str, fleet_home: Path) -> Iterator[Callable[..., ManagedProcess]]:
    """Start a read-only process on the test's Redis; all stopped at teardown."""
    with ExitStack() as stack:

        def start(name: str, argv: list[str], **extra: str) -> ManagedProcess:
            env = fleet_env(redis_server, fleet_home, {"PYTHONDONTWRITEBYTECODE": "1", **extra})
            process = ManagedProcess(
                name, _read_only(argv, fleet_home), env, fleet_home / f"{name}.log"
            )
            process.start()
            stack.callback(process.stop)
            return process

        yield start


def test_syncers_containers_work_with_only_tmp_writable(
    started: Callable[..., ManagedProcess],
    source: LabRegistry,
    dest: LabRegistry,
    syncer_cli: RunCli,
    fleet_home: Path,
) -> None:
    [image] = seed(source, [small_image(7)])
    auth = write_json(fleet_home / "auth.json", insecure(source.host, dest.host))
    worker = started(
        "worker",
        _port(_command("worker"), "--metrics-port", free_port()),
        SYNCER_AUTH_FILE=str(auth),
    )
    _until("worker ready", lambda: " ready." in worker.log_text(), worker)
    rules = write_json(
        fleet_home / "images.json",
        {f"{source.host}/{image.repo}:{image.tag}": f"{dest.host}/mirror/app"},
    )
    planned = syncer_cli("plan", "--images", rules, "--wait", timeout=90)
    assert planned.code == 0 and "1 synced" in planned.out, planned

    beat = started("beat", _command("beat"))
    _until("beat takes the lock", lambda: syncer_cli("probe", "beat").code == 0, beat)

    port = free_port()
    gauges = started("metrics", _port(_command("metrics"), "--port", port))
    _until("/metrics answers", _answers(f"http://127.0.0.1:{port}/metrics"), gauges)

    port = free_port()
    flower = started("flower", _port(_command("flower"), "--port", port), FLOWER_BASIC_AUTH="a:b")
    _until(
        "Flower answers", _answers(f"http://127.0.0.1:{port}/healthcheck", auth=("a", "b")), flower
    )

    for process in (worker, beat, gauges, flower):
        assert "Read-only file system" not in process.log_text(), process.log_tail()
