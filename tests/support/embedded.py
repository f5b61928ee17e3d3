"""Helpers of the in-process ``syncer sync`` tests: a run's outcome, seeding, config files."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.images import ImageSet, push_image_set
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure


@dataclass(frozen=True)
class Run:
    """What one ``syncer`` invocation did."""

    code: int
    out: str
    err: str

    @property
    def report(self) -> dict[str, Any]:
        """The ``--output json`` report on stdout."""
        return json.loads(self.out)  # type: ignore[no-any-return]

    def results(self, status: str | None = None) -> list[dict[str, Any]]:
        """Per-image results from the JSON report, optionally of one status."""
        return [r for r in self.report["results"] if status is None or r["status"] == status]


RunSync = Callable[..., Run]


def seed(registry: LabRegistry, image_set: ImageSet, *refs: str) -> ImageSet:
    """Push the images ``repo:tag`` of ``refs`` (all when none) into ``registry``."""
    wanted = image_set.images if not refs else tuple(image_set.get(*ref.split(":")) for ref in refs)
    subset = ImageSet(wanted)
    push_image_set(registry.url, subset, auth=registry.auth, verify=registry.verify)
    return subset


def write_config(path: Path, data: object) -> Path:
    """Write ``data`` as JSON or YAML, by the file's extension."""
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2))
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sync_config(path: Path, images: object, *insecure_hosts: str) -> Path:
    """Write a one-file config: ``insecure_hosts`` marked insecure, and the ``images`` rules."""
    return write_config(path, {"auth": insecure(*insecure_hosts), "images": images})


@contextmanager
def isolated_in_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *unset: str
) -> Iterator[None]:
    """No docker config or defaults of the user (nor ``unset``); the root logger put back after.

    ``syncer.cli.main`` run in-process reconfigures the root logger; this undoes it.
    """
    empty = tmp_path / "no-docker-config"
    empty.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for name in ("DEFAULT_REGISTRY", "DEFAULT_NAMESPACE", *unset):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
