"""The clean install, made once per session: skipped offline locally, failed offline in CI."""

from __future__ import annotations

import sys

import pytest

from tests.install.venv import CleanInstall, IndexUnreachable, make_clean_install, probe_index
from tests.support.binaries import in_ci
from tests.support.dockerfile import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Debian stable has 3.11
    pytest.skip("tomllib needs Python 3.11", allow_module_level=True)


@pytest.fixture(scope="session")
def clean_install(tmp_path_factory: pytest.TempPathFactory) -> CleanInstall:
    """syncer's wheel, no extras, alone in a fresh venv (about 20 s with a warm pip cache)."""
    workdir = tmp_path_factory.mktemp("clean-install")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    try:
        probe_index(pyproject["build-system"]["requires"], workdir)
    except IndexUnreachable as exc:
        if in_ci():
            pytest.fail(f"{exc}, and the clean-install test must run in CI", pytrace=False)
        pytest.skip(str(exc))
    return make_clean_install(workdir)
