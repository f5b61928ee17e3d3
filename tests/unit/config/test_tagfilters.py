"""Tag filters of a rule's object form (syncer.config.tagfilters): no I/O, created times given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pytest

from syncer.config import tagfilters
from syncer.config.tagfilters import Dropped, TagFilters, select
from syncer.errors import ConfigError

TAGS = ["main", "v1.0.0", "v1.1.0-rc1", "v1.1.0", "sha-abc", "v2.0.0", "v1.2.0"]


def day(n: int) -> datetime:
    return datetime(2026, 1, n, tzinfo=timezone.utc)


class Clock:
    """Created times by tag; records which tags were asked for."""

    def __init__(self, times: Mapping[str, datetime | str]) -> None:
        self.times, self.asked = times, list[list[str]]()

    def __call__(self, tags: Sequence[str]) -> Mapping[str, datetime | str]:
        self.asked.append(list(tags))
        return {t: self.times[t] for t in tags if t in self.times}


def test_no_filter_keeps_everything_in_listing_order() -> None:
    sel = select(TagFilters(), TAGS)
    assert sel.kept == tuple(TAGS) and sel.dropped == () and sel.candidates == len(TAGS)
    assert not TagFilters().active


def test_each_filter_drops_with_its_reason_in_order() -> None:
    filters = TagFilters(include=("^v", "^main$"), exclude=("-rc\\d*$",), semver=">=1.1, <2")
    sel = select(filters, TAGS)
    assert sel.kept == ("v1.1.0", "v1.2.0")
    assert sel.dropped == (
        Dropped("main", "semver", "not a semantic version"),
        Dropped("v1.0.0", "semver", "outside the range"),
        Dropped("v1.1.0-rc1", "exclude", "matches /-rc\\d*$/"),
        Dropped("sha-abc", "include", "matches no include regex"),
        Dropped("v2.0.0", "semver", "outside the range"),
    )


def test_include_is_unanchored_like_the_keys_regex() -> None:
    assert select(TagFilters(include=("1\\.1",)), TAGS).kept == ("v1.1.0-rc1", "v1.1.0")


def test_latest_by_semver_keeps_listing_order_and_reads_no_created_time() -> None:
    clock = Clock({})
    sel = select(TagFilters(include=("^v",), latest=2), TAGS, clock)
    assert sel.kept == ("v2.0.0", "v1.2.0")
    assert sel.order == "semver"
    latest = [d for d in sel.dropped if d.step == "latest"]
    assert latest == [
        Dropped("v1.0.0", "latest", "not among the newest 2 by semver"),
        Dropped("v1.1.0-rc1", "latest", "not among the newest 2 by semver"),
        Dropped("v1.1.0", "latest", "not among the newest 2 by semver"),
    ]
    assert clock.asked == []


def test_latest_by_created_time_reads_only_the_candidates() -> None:
    clock = Clock({"main": day(9), "v1.0.0": day(1), "sha-abc": day(5), "v2.0.0": day(3)})
    filters = TagFilters(exclude=("^v1\\.[12]",), latest=2)
    sel = select(filters, TAGS, clock)
    assert clock.asked == [["main", "v1.0.0", "sha-abc", "v2.0.0"]]
    assert sel.kept == ("main", "sha-abc") and sel.order == "created time"
    assert Dropped("v2.0.0", "latest", "not among the newest 2 by created time") in sel.dropped


def test_a_tag_without_a_created_time_is_dropped_with_the_reason() -> None:
    clock = Clock({"a": day(1), "b": "config has no created time", "c": day(2)})
    sel = select(TagFilters(latest=1), ["a", "b", "c", "d"], clock)
    assert sel.kept == ("c",)
    assert sel.dropped == (
        Dropped("b", "latest", "created time unreadable: config has no created time"),
        Dropped("d", "latest", "created time unreadable: created time not read"),
        Dropped("a", "latest", "not among the newest 1 by created time"),
    )


def test_latest_with_no_more_candidates_than_n_reads_nothing() -> None:
    clock = Clock({})
    assert select(TagFilters(latest=3), ["a", "b"], clock).kept == ("a", "b")
    assert clock.asked == []


def test_equal_versions_and_times_rank_by_tag_name() -> None:
    assert select(TagFilters(latest=1), ["1.0.0", "v1.0.0"]).kept == ("v1.0.0",)
    clock = Clock({"x": day(1), "y": day(1), "z": day(1)})
    assert select(TagFilters(latest=2), ["z", "x", "y"], clock).kept == ("z", "y")


def test_round_trip_uses_the_config_form() -> None:
    filters = TagFilters(include=("^v",), exclude=("a", "b"), semver="^1", latest=3)
    data = filters.to_dict()
    assert data == {"include": ["/^v/"], "exclude": ["/a/", "/b/"], "semver": "^1", "latest": 3}
    assert TagFilters.from_dict(data) == filters
    assert TagFilters().to_dict() == {}


def test_steps_name_each_set_filter_in_order() -> None:
    filters = TagFilters(include=("^v",), exclude=("a", "b"), semver="^1", latest=3)
    assert filters.steps() == ["include /^v/", "exclude /a/, /b/", 'semver "^1"', "latest 3"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"include": "^v"}, "include: expected a regex written /like this/, got '^v'"),
        ({"include": []}, "include: expected a /regex/ or a non-empty list of them, got []"),
        ({"exclude": ["/ok/", 5]}, "exclude: expected a regex written /like this/, got 5"),
        ({"exclude": "/(?=x)/"}, "exclude: invalid regex '(?=x)'"),
        ({"include": "/"}, "include: expected a regex written /like this/, got '/'"),
        ({"semver": 1.2}, 'semver: expected a range such as ">=1.20, <2", got 1.2'),
        ({"semver": ">=1.x"}, "semver: '>=1.x' is not a comparator"),
        ({"latest": 0}, "latest: expected a positive integer, got 0"),
        ({"latest": True}, "latest: expected a positive integer, got True"),
        ({"latest": "5"}, "latest: expected a positive integer, got '5'"),
    ],
)
def test_bad_values_name_their_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TagFilters.from_dict(data)
    assert str(info.value).startswith(message)


def test_latest_over_many_tags_ranks_each_once_and_drops_the_rest_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A listing may hold a million tags: each is ranked once, and the tags
    # dropped are found against one set, not a union built per tag (which cost
    # 7 s for 100,000 tags and latest 1,000).
    ranked: list[str] = []
    real_key, real_newest = tagfilters.version_key, tagfilters._newest
    monkeypatch.setattr(tagfilters, "version_key", lambda t: ranked.append(t) or real_key(t))
    unions: list[int] = []

    class Counted(set[str]):
        def __or__(self, other: Any) -> set[str]:
            unions.append(1)
            return set(self) | set(other)

    def newest(*args: Any) -> Any:
        top, order, unread = real_newest(*args)
        return Counted(top), order, unread

    monkeypatch.setattr(tagfilters, "_newest", newest)
    tags = [f"1.0.{i}" for i in range(500)]
    selection = tagfilters.select(TagFilters(latest=3), tags)
    assert selection.kept == ("1.0.497", "1.0.498", "1.0.499")
    assert len(selection.dropped) == 497
    assert sorted(ranked) == sorted(tags)
    assert len(unions) == 1
