"""What each progress number means: bytes per distinct blob, copied vs mounted, a stopped clock."""

from __future__ import annotations

import io
import time

from syncer.engine.jobs import ImageResult
from syncer.engine.progress import ProgressBar, Stats, bytes_line, summary


def test_a_blob_shared_by_repositories_counts_once_in_the_byte_total() -> None:
    stats = Stats()

    firsts = [
        stats.reference("reg", "sha256:base", 100),
        stats.reference("reg", "sha256:base", 100),  # another repository, same registry
        stats.reference("other", "sha256:base", 100),  # another registry: sent again
        stats.reference("reg", "sha256:app", 10),
    ]

    assert firsts == [True, False, True, True]
    assert stats.bytes.total == 210


def test_a_blobs_first_outcome_in_its_registry_decides_its_bytes() -> None:
    stats = Stats()
    stats.moved(100)
    stats.settle("reg", "sha256:base", 100, "copied")
    stats.settle("reg", "sha256:base", 100, "mounted")  # mounted elsewhere after: nothing
    stats.settle("reg", "sha256:there", 30, "exists")
    stats.settle("reg", "sha256:there", 30, "exists")
    stats.settle("reg", "sha256:gone", 7, "failed")

    assert (stats.bytes.done, stats.bytes.skipped, stats.bytes.failed) == (100, 30, 7)


def test_the_summary_counts_mounted_blobs_apart_from_copied_ones() -> None:
    stats = Stats()
    stats.add("blobs", "done", 5)
    stats.mounted = 5
    stats.reference("reg", "sha256:a", 2048)
    stats.settle("reg", "sha256:a", 2048, "mounted")
    stats.finish()

    text = summary(stats)

    assert "blobs: 0 copied, 5 mounted, 0 already present" in text
    assert "moved 0 B in " in text and "2.0 KiB of 2.0 KiB already there" in text


def test_elapsed_stops_when_the_run_finishes() -> None:
    stats = Stats()
    stats.started -= 2.0
    stats.finish()
    ended = stats.elapsed
    time.sleep(0.05)

    assert 2.0 <= ended < 2.5
    assert stats.elapsed == ended
    assert stats.report()["elapsed_seconds"] == round(ended, 3)


def test_the_bar_and_its_words_count_the_same_bytes() -> None:
    share, text = bytes_line(0, 300 << 20, 328 << 20)
    stats = Stats()
    stats.reference("reg", "sha256:a", 4 << 20)
    stats.moved(1 << 20)

    line = ProgressBar(stats, io.StringIO()).line()

    assert round(share * 100, 1) == 91.5
    assert text == "0 B moved + 300.0 MiB there / 328.0 MiB"
    assert " 25.0% 1.0 MiB moved + 0 B there / 4.0 MiB " in line, line


def test_a_no_op_run_says_its_skipped_images_are_not_in_the_bytes() -> None:
    stats = Stats()
    for n in range(18):
        stats.record(ImageResult(f"s/a:{n}", f"d/a:{n}", "skipped", "unchanged"))
    stats.finish()
    line = summary(stats).splitlines()[2]
    assert line.startswith("moved 0 B in ") and "0 B of 0 B" not in line
    assert line.endswith("(0 B/s); 18 skipped images not in bytes"), line


def test_a_mixed_run_gives_the_bytes_of_what_it_copied_and_the_images_left_out() -> None:
    stats = Stats()
    stats.record(ImageResult("s/a:1", "d/a:1", "synced"))
    stats.record(ImageResult("s/a:2", "d/a:2", "skipped", "unchanged"))
    stats.reference("reg", "sha256:a", 2048)
    stats.settle("reg", "sha256:a", 2048, "exists")
    stats.finish()
    line = summary(stats).splitlines()[2]
    assert line.endswith("; 2.0 KiB of 2.0 KiB already there; 1 skipped image not in bytes"), line
