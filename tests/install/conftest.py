"""The clean install, made once per session: skipped offline locally, failed offline in CI."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.binaries import in_ci
from tests.support.dockerfile import ROOT
from tests.support.venv import CleanInstall, IndexUnreachable, make_clean_install, probe_index

#: ``[build-system] requires = [...]`` (read without tomllib, which Python 3.10 lacks).
_BUILD_REQUIRES = re.compile(r"^\[build-system\]\s*\nrequires\s*=\s*(\[[^\]]*\])", re.MULTILINE)


def _build_requires() -> list[str]:
    found = _BUILD_REQUIRES.search((ROOT / "pyproject.toml").read_text())
    assert found, "pyproject.toml: no [build-system] requires on the line after the header"
    requires: list[str] = json.loads(found[1])
    return requires


@pytest.fixture(scope="session")
def clean_install(tmp_path_factory: pytest.TempPathFactory) -> CleanInstall:
    """syncer's wheel, no extras, alone in a fresh venv (about 35 s with a warm pip cache)."""
    workdir = tmp_path_factory.mktemp("clean-install")
    try:
        probe_index(_build_requires(), workdir)
    except IndexUnreachable as exc:
        if in_ci():
            pytest.fail(f"{exc}, and the clean-install test must run in CI", pytrace=False)
        pytest.skip(str(exc))
    return make_clean_install(workdir)
