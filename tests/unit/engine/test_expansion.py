"""expand_rule with a rule's tag filters and platforms (syncer.engine.expansion), faked registry."""

from __future__ import annotations

import json
from typing import Any

from syncer.config.ruleparse import parse_rule
from syncer.config.rules import Rule
from syncer.engine.expansion import expand_rule, select_tags
from syncer.engine.jobs import ImageResult, TagJob
from tests.support.manifest_store import Listing, Pool


def rule(key: str, **fields: Any) -> Rule:
    return parse_rule(key, {"to": "dst.io/m/app", **fields}, environ={})


def sources(items: list[TagJob | ImageResult]) -> list[str]:
    return [str(i.source) for i in items if isinstance(i, TagJob)]


def test_filters_pick_the_jobs_and_jobs_carry_the_rules_platforms() -> None:
    tags = ["v1.0.0", "v1.1.0-rc1", "v1.1.0", "main", "v2.0.0"]
    r = rule("src.io/app", exclude="/-rc/", semver="<2", platforms=["linux/arm64"])
    items = list(expand_rule(r, Pool(Listing(tags))))  # type: ignore[arg-type]
    assert sources(items) == ["src.io/app:v1.0.0", "src.io/app:v1.1.0"]
    assert {i.platforms for i in items if isinstance(i, TagJob)} == {("linux/arm64",)}
    assert [str(i.dest) for i in items if isinstance(i, TagJob)] == [
        "dst.io/m/app:v1.0.0",
        "dst.io/m/app:v1.1.0",
    ]


def test_a_regex_key_narrows_before_the_filters() -> None:
    r = rule("src.io/app:/^v1/", include="/0$/")
    items = list(expand_rule(r, Pool(Listing(["v1.0", "v1.1", "v2.0", "x0"]))))  # type: ignore[arg-type]
    assert sources(items) == ["src.io/app:v1.0"]
    sel = select_tags(r, Pool(Listing(["v1.0", "v1.1", "v2.0", "x0"])), print)  # type: ignore[arg-type]
    assert sel.candidates == 2  # the key's regex selected v1.0 and v1.1 only


def test_a_tag_outside_the_grammar_still_fails_and_is_never_requested() -> None:
    reg = Listing(["v1", "-bad", "v2"])
    items = list(expand_rule(rule("src.io/app", latest=1), Pool(reg)))  # type: ignore[arg-type]
    (failed,) = [i for i in items if isinstance(i, ImageResult)]
    assert failed.source == "src.io/app:-bad" and failed.status == "failed"
    assert "-bad" not in reg.gets


def test_latest_by_created_time_reads_only_what_the_other_filters_kept() -> None:
    reg = Listing(["old", "new", "mid", "skip-me"])
    for tag, when in [("old", "2020"), ("new", "2024"), ("mid", "2022"), ("skip-me", "2030")]:
        reg.image(tag, {"created": f"{when}-01-01T00:00:00Z", "os": "linux"})
    r = rule("src.io/app", exclude="/^skip/", latest=2)
    items = list(expand_rule(r, Pool(reg)))  # type: ignore[arg-type]
    assert sources(items) == ["src.io/app:new", "src.io/app:mid"]
    assert sorted(reg.gets) == ["mid", "new", "old"]


def test_destination_tags_rename_what_the_filters_kept_in_listing_order() -> None:
    r = parse_rule(
        "src.io/app", {"to": "dst.io/m/app:a,b", "include": "/^v/", "latest": 2}, environ={}
    )
    items = list(expand_rule(r, Pool(Listing(["v1.0.0", "x", "v3.0.0", "v2.0.0"]))))  # type: ignore[arg-type]
    pairs = [(str(i.source), str(i.dest)) for i in items if isinstance(i, TagJob)]
    assert pairs == [
        ("src.io/app:v3.0.0", "dst.io/m/app:a"),
        ("src.io/app:v2.0.0", "dst.io/m/app:b"),
    ]


def test_a_rule_without_filters_expands_as_before() -> None:
    r = parse_rule("src.io/app", "dst.io/m/app", environ={})
    items = list(expand_rule(r, Pool(Listing(["b", "a"]))))  # type: ignore[arg-type]
    assert sources(items) == ["src.io/app:b", "src.io/app:a"]
    assert all(i.platforms == () for i in items if isinstance(i, TagJob))
    assert json.dumps([i.to_dict() for i in items])  # JSON primitives only


FALLBACK = "sha256-" + "ab" * 32


def test_a_rule_that_follows_referrers_leaves_the_tag_schema_indexes_to_the_follower() -> None:
    tags = ["v1", FALLBACK, f"{FALLBACK}.sig", "sha256-short"]
    plain = rule("src.io/app")
    followed = parse_rule("src.io/app", {"to": "dst.io/m/app", "referrers": True}, environ={})
    seen: list[str] = []

    assert sources(list(expand_rule(plain, Pool(Listing(tags))))) == [  # type: ignore[arg-type]
        f"src.io/app:{t}" for t in tags
    ]
    by_run = list(expand_rule(plain, Pool(Listing(tags)), seen.append, referrers=True))  # type: ignore[arg-type]
    by_rule = list(expand_rule(followed, Pool(Listing(tags))))  # type: ignore[arg-type]
    kept = ["src.io/app:v1", f"src.io/app:{FALLBACK}.sig", "src.io/app:sha256-short"]
    assert sources(by_run) == sources(by_rule) == kept
    assert seen == tags  # verify's scope still sees the index tag: it is not an extra
    filtered = rule("src.io/app", include="/^sha/")
    assert sources(list(expand_rule(filtered, Pool(Listing(tags)), referrers=True))) == [  # type: ignore[arg-type]
        f"src.io/app:{FALLBACK}.sig",
        "src.io/app:sha256-short",
    ]
