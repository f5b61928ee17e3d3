"""A worker streaming a large blob hands small copies back, a bounded number of times."""

from __future__ import annotations

from workers import links

SMALL, LARGE = 1 << 20, links.LARGE_BLOB


def test_idle_link_takes_everything() -> None:
    assert not links.should_hand_back(SMALL, 0)
    assert not links.should_hand_back(LARGE, 0)


def test_busy_link_hands_back_small_copies_a_bounded_number_of_times() -> None:
    with links.streaming(LARGE):
        assert links.should_hand_back(SMALL, 0)
        assert links.should_hand_back(SMALL, links.MAX_DEFERRALS - 1)
        assert not links.should_hand_back(SMALL, links.MAX_DEFERRALS)
        assert not links.should_hand_back(LARGE, 0), "large blobs are never handed back"
    assert not links.should_hand_back(SMALL, 0), "the link is free again"


def test_small_streams_do_not_mark_the_link_busy() -> None:
    with links.streaming(SMALL):
        assert not links.should_hand_back(SMALL, 0)


def test_the_mark_is_released_when_a_copy_fails() -> None:
    try:
        with links.streaming(LARGE):
            raise RuntimeError("stream broke")
    except RuntimeError:
        pass
    assert not links.should_hand_back(SMALL, 0)
