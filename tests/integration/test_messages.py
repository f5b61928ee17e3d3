"""Messages that say what to do, from real ``syncer`` processes.

A registry whose name does not resolve fails in one line and is not retried
(a refused port, the positive control, is); a ``--dry-run`` exits as the real
run would for the same config problem. An unreachable Redis is in
``tests/fleet/test_fleetcli.py``. ``registry.invalid`` never resolves (RFC
6761), so these need no network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab.registry import free_port
from tests.support.embedded import write_config
from tests.support.runner import Outcome, isolated_env, run_syncer

pytestmark = pytest.mark.integration


def _sync(tmp_path: Path, images: dict[str, str], *flags: str) -> Outcome:
    path = write_config(tmp_path / "images.yaml", images)
    argv = ["sync", "--images", str(path), "--cache", "none", "-v", *flags]
    return run_syncer(argv, env=isolated_env(tmp_path / "home"), deadline=120)


def _failures(run: Outcome) -> list[str]:
    return [line.split(" ERROR ", 1)[1] for line in run.err.splitlines() if " ERROR " in line]


def test_an_unresolvable_registry_is_one_line_and_not_retried(tmp_path: Path) -> None:
    dest = f"127.0.0.1:{free_port()}/mirror/app"
    run = _sync(tmp_path, {"registry.invalid/lab/app:v1": dest})

    assert run.code == 1 and not run.killed, run.err
    assert _failures(run) == [
        f"failed registry.invalid/lab/app:v1 -> {dest}:v1: GET https://registry.invalid/v2/: "
        "cannot resolve registry.invalid (Name or service not known)"
    ]
    assert " retry " not in run.err, "a name that does not resolve is not retried"
    assert "NameResolutionError" not in run.out + run.err


def test_a_refused_port_is_one_line_and_retried(tmp_path: Path) -> None:
    """The positive control: a refused connection may heal, so it is retried."""
    port = free_port()
    run = _sync(tmp_path, {f"127.0.0.1:{port}/lab/app:v1": "127.0.0.1:9/mirror/app"}, "-r", "0")

    assert run.code == 1 and not run.killed, run.err
    assert " retry 1/" in run.err
    [failure] = _failures(run)
    assert failure.endswith(f": cannot connect to 127.0.0.1:{port} (Connection refused)"), failure


def _wrong_type(tmp_path: Path) -> list[str]:
    src, dst = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    auth = write_config(tmp_path / "auth.yaml", {src: {"username": ["a", "b"], "password": "x"}})
    images = write_config(tmp_path / "images.yaml", {f"{src}/lab/app:v1": f"{dst}/mirror/app"})
    return ["--auth", str(auth), "--images", str(images)]


def _bad_name(tmp_path: Path) -> list[str]:
    images = write_config(tmp_path / "images.yaml", {"127.0.0.1:9/lab/App:v1": "127.0.0.1:9/m/app"})
    return ["--images", str(images)]


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (_wrong_type, "username: expected a string, got list"),
        (_bad_name, "component 'App' must be lowercase"),
    ],
)
def test_a_dry_run_exits_as_the_real_run_would(
    tmp_path: Path, files: Callable[[Path], list[str]], reason: str
) -> None:
    args = files(tmp_path)
    env = isolated_env(tmp_path / "home")
    dry = run_syncer(["sync", *args, "--cache", "none", "--dry-run"], env=env, deadline=60)
    real = run_syncer(["sync", *args, "--cache", "none"], env=env, deadline=60)

    assert (dry.code, real.code) == (1, 1), (dry.text, real.text)
    assert reason in dry.out and reason in real.out
    assert "nothing was written" in dry.out
