"""Fixtures shared by the registry client's unit tests."""

from __future__ import annotations

import pytest

from tests.support.fakes import FakeTransport, open_registry


@pytest.fixture
def fake() -> FakeTransport:
    """A fake transport on which the registry at ``HOST`` answers ``/v2/`` without auth."""
    fake = FakeTransport()
    open_registry(fake)
    return fake
