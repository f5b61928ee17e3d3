"""Fixtures for end-to-end syncs: a source and a destination registry, seeding, the CLI.

Every test here runs ``syncer.cli.main`` in-process against real registries
on 127.0.0.1. The environment is isolated per test: no docker ``config.json``
of the user, no ``DEFAULT_REGISTRY``, and the root logger that ``main``
reconfigures is put back afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from syncer.cli.main import main
from tests.support.embedded import Run, RunSync, isolated_in_process
from tests.support.registries import LabRegistry
from tests.support.verify import RegistryReader


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No user docker config, no default registry, and the root logger restored."""
    with isolated_in_process(monkeypatch, tmp_path):
        yield


@pytest.fixture
def run_sync(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> RunSync:
    """Run ``syncer sync ARGS --cache tmp/blobs.json`` and capture its output."""

    def run(*args: str | Path, cache: bool = True) -> Run:
        argv: Sequence[str] = ["sync", *map(str, args)]
        if cache:
            argv = [*argv, "--cache", str(tmp_path / "blobs.json")]
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_verify(capsys: pytest.CaptureFixture[str]) -> RunSync:
    """Run ``syncer verify ARGS`` in-process and capture its output."""

    def run(*args: str | Path) -> Run:
        capsys.readouterr()
        code = main(["verify", *map(str, args)])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def reader() -> Iterator[Callable[..., RegistryReader]]:
    """Open :class:`RegistryReader` s for a :class:`LabRegistry`; all closed at teardown."""
    opened: list[RegistryReader] = []

    def open_reader(registry: LabRegistry) -> RegistryReader:
        r = RegistryReader(registry.url, auth=registry.auth, verify=registry.verify)
        opened.append(r)
        return r

    yield open_reader
    for r in opened:
        r.close()
