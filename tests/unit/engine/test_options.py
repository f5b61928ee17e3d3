"""Unit tests for syncer.engine.options: the typed sync flags."""

from __future__ import annotations

import dataclasses

import pytest

from syncer import defaults
from syncer.engine.options import SyncOptions
from syncer.oci.manifest import PlatformFilter


def test_defaults_come_from_the_defaults_module() -> None:
    opts = SyncOptions()
    assert (opts.proc, opts.retries) == (defaults.PROC, defaults.RETRIES)
    assert opts.chunked_threshold == defaults.CHUNKED_THRESHOLD
    assert opts.upload_chunk == defaults.UPLOAD_CHUNK
    assert opts.force is False
    assert not opts.platforms.active


def test_options_are_frozen() -> None:
    opts = SyncOptions(proc=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.proc = 3  # type: ignore[misc]


def test_each_instance_gets_its_own_platform_filter_equal_to_the_empty_one() -> None:
    assert SyncOptions().platforms == PlatformFilter()
    assert SyncOptions(platforms=PlatformFilter(("linux",), ())).platforms.active
