"""Skip integration tests without their server binary locally; fail them in CI."""

from __future__ import annotations

import os
import shutil

import pytest

from lab.registry import BINARY_NAME, find_registry_binary


def in_ci() -> bool:
    """Whether we run in CI (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_binary(name: str) -> str:
    """The path of ``name``; skip the test when it is missing, or fail it in CI."""
    path = find_registry_binary() if name == BINARY_NAME else shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed"
    if in_ci():
        pytest.fail(f"{message}, and integration tests must run in CI", pytrace=False)
    pytest.skip(message)
