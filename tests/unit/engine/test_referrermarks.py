"""Synced marks: the blob cache entry that spares a no-op the destination's referrers."""

from __future__ import annotations

from pathlib import Path

from syncer.engine.cache import FileBlobCache
from syncer.engine.referrers import synced_mark
from syncer.registry.referrers import ReferrerEntry

SUBJECT = "sha256:" + "a" * 64


def _entry(ch: str, kind: str = "application/spdx+json") -> ReferrerEntry:
    raw = {"mediaType": "m/t", "digest": "sha256:" + ch * 64, "size": 3, "artifactType": kind}
    return ReferrerEntry.from_json(raw, "test")


def test_a_mark_names_its_subject_and_ignores_order_but_not_content() -> None:
    one, two = _entry("b"), _entry("c")

    mark = synced_mark(SUBJECT, [one, two])

    assert mark.startswith(f"referrers:{SUBJECT}:sha256:")
    assert synced_mark(SUBJECT, [two, one]) == mark
    assert synced_mark(SUBJECT, [one]) != mark  # a new referrer at the source is a new mark
    assert synced_mark("sha256:" + "d" * 64, [one, two]) != mark


def test_a_mark_survives_the_file_cache_and_never_passes_for_a_blob(tmp_path: Path) -> None:
    mark = synced_mark(SUBJECT, [_entry("b")])
    cache = FileBlobCache(tmp_path / "blobs.json")
    cache.add("d.io", "mirror/app", mark)
    cache.flush()

    again = FileBlobCache(tmp_path / "blobs.json")

    assert again.has("d.io", "mirror/app", mark)
    assert not again.has("d.io", "other", mark)
    assert again.repos_with("d.io", "sha256:" + "b" * 64) == []
