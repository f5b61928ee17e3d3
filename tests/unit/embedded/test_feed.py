"""The feed: jobs come out once per (source, destination), and failures go to callbacks."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.config.ruleparse import parse_rule
from syncer.config.rules import Rule
from syncer.embedded.feed import _log_listed, feed
from syncer.engine.jobs import ImageResult
from syncer.errors import RegistryError, SyncerError

#: Rules with their tags named never touch the pool.
NO_POOL: Any = None


def _rule(key: str, dest: str = "dst.example/mirror/app") -> Rule:
    return parse_rule(key, dest, environ={})


class _Failing:
    """A pool whose registry cannot list tags."""

    def for_repo(self, repo: Any) -> Any:
        raise RegistryError("list tags: HTTP 500")


def test_overlapping_rules_give_each_image_once() -> None:
    rules = [_rule("src.example/lab/app:v1,v2"), _rule("src.example/lab/app:v2,v3")]
    failed: list[ImageResult] = []
    jobs = list(
        feed(rules, NO_POOL, threads=2, failed=failed.append, rule_failed=lambda r, e: None)
    )
    assert sorted(str(j.source) for j in jobs) == [
        "src.example/lab/app:v1",
        "src.example/lab/app:v2",
        "src.example/lab/app:v3",
    ]
    assert failed == []


def test_a_rule_that_cannot_be_listed_goes_to_rule_failed() -> None:
    rules = [_rule("src.example/lab/app"), _rule("src.example/lab/other:v1")]
    seen: list[tuple[str, str]] = []

    def rule_failed(rule: Rule, exc: SyncerError) -> None:
        seen.append((rule.key, str(exc)))

    pool: Any = _Failing()
    jobs = list(feed(rules, pool, threads=2, failed=print, rule_failed=rule_failed))
    assert [str(j.source) for j in jobs] == ["src.example/lab/other:v1"]
    assert seen == [("src.example/lab/app", "list tags: HTTP 500")]


def test_a_bug_in_a_listing_thread_is_raised() -> None:
    class Broken:
        def for_repo(self, repo: Any) -> Any:
            raise KeyError("bug")

    pool: Any = Broken()
    with pytest.raises(KeyError):
        list(feed([_rule("src.example/lab/app")], pool, threads=1, failed=print, rule_failed=print))


def test_a_stopped_feed_ends_without_waiting_for_its_listings() -> None:
    rules = [_rule(f"src.example/lab/app:t{i}") for i in range(2000)]
    got = feed(rules, NO_POOL, threads=2, failed=print, rule_failed=print, stop=lambda: True)
    assert list(got) == []


def test_a_listing_says_tags_and_the_images_they_make(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="syncer.embedded.feed")
    one = _rule("src.example/lab/app")
    two = parse_rule("src.example/lab/app", ["dst.example/a/app", "dst.example/b/app"], environ={})
    _log_listed(one, 3)
    _log_listed(two, 6)
    assert [r.getMessage() for r in caplog.records] == [
        "src.example/lab/app: 3 tags listed",
        "src.example/lab/app: 3 tags listed; 6 images, one per tag and destination",
    ]
