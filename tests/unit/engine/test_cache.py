"""The blob cache (syncer.engine.cache): in memory, and the JSON file shared by processes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from syncer.engine.cache import FileBlobCache, MemoryBlobCache
from syncer.errors import CacheError

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_memory_cache_keeps_digests_per_registry_and_repository() -> None:
    cache = MemoryBlobCache()
    cache.add("dst.io", "team/app", A)
    cache.add("dst.io", "team/base", A)
    cache.add("other.io", "x/y", B)
    assert cache.has("dst.io", "team/app", A)
    assert not cache.has("dst.io", "team/app", B)
    assert not cache.has("other.io", "team/app", A), "registries never share entries"
    assert cache.repos_with("dst.io", A) == ["team/app", "team/base"]
    assert cache.repos_with("dst.io", B) == []


def test_memory_cache_forgets_a_discarded_entry_only() -> None:
    cache = MemoryBlobCache()
    cache.add("dst.io", "team/app", A)
    cache.add("dst.io", "team/base", A)
    cache.discard("dst.io", "team/app", A)
    cache.discard("nowhere.io", "x", B)  # unknown entries are no error
    assert not cache.has("dst.io", "team/app", A)
    assert cache.repos_with("dst.io", A) == ["team/base"]


def test_a_flushed_file_is_read_back_by_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "blobs.json"
    first = FileBlobCache(path)
    first.add("dst.io", "team/app", A)
    first.flush()
    assert json.loads(path.read_text()) == {
        "version": 1,
        "registries": {"dst.io": {A: ["team/app"]}},
    }
    assert FileBlobCache(path).has("dst.io", "team/app", A)


def test_a_stale_entry_leaves_the_file_at_the_next_flush(tmp_path: Path) -> None:
    path = tmp_path / "blobs.json"
    first = FileBlobCache(path)
    first.add("dst.io", "team/app", A)
    first.add("dst.io", "team/base", A)
    first.flush()

    second = FileBlobCache(path)
    second.discard("dst.io", "team/app", A)  # the destination lost it
    other = FileBlobCache(path)
    other.add("dst.io", "team/other", B)
    other.flush()  # another process writes meanwhile
    second.flush()

    reread = FileBlobCache(path)
    assert not reread.has("dst.io", "team/app", A)
    assert reread.has("dst.io", "team/base", A) and reread.has("dst.io", "team/other", B)


def test_an_entry_found_again_after_it_was_stale_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "blobs.json"
    cache = FileBlobCache(path)
    cache.add("dst.io", "team/app", A)
    cache.flush()
    cache.discard("dst.io", "team/app", A)
    cache.add("dst.io", "team/app", A)  # copied again and confirmed
    cache.flush()

    assert FileBlobCache(path).has("dst.io", "team/app", A)


def test_flush_merges_what_another_process_wrote_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "blobs.json"
    one, two = FileBlobCache(path), FileBlobCache(path)
    one.add("dst.io", "team/app", A)
    two.add("dst.io", "team/base", B)
    one.flush()
    two.flush()
    merged = FileBlobCache(path)
    assert merged.has("dst.io", "team/app", A) and merged.has("dst.io", "team/base", B)


@pytest.mark.parametrize(
    "text",
    ["{not json", json.dumps({"version": 99, "registries": {"dst.io": {A: ["r"]}}}), "[1]"],
)
def test_an_unreadable_or_foreign_file_is_ignored_with_a_warning(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "blobs.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="syncer.engine.cache"):
        cache = FileBlobCache(path)
    assert cache.repos_with("dst.io", A) == []
    assert str(path) in caplog.text


def test_a_cache_that_cannot_be_written_is_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = FileBlobCache(blocker / "blobs.json")  # its parent is a file
    cache.add("dst.io", "team/app", A)
    with pytest.raises(CacheError, match="cannot write blob cache"):
        cache.flush()
