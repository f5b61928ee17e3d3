"""``syncer plan`` (syncer.fleet.planner): what it sends, counts and records, on a real Redis."""

from __future__ import annotations

import pytest
import redis

from syncer.config.files import SyncConfig
from syncer.config.ruleparse import parse_rule
from syncer.config.rules import BrokenRule, Rule
from syncer.engine.jobs import TagJob
from syncer.engine.options import SyncOptions
from syncer.fleet.planner import preview, submit
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.messages import ExpandRule, SyncTags
from syncer.fleet.state.plans import PlanStore
from syncer.oci.manifest import PlatformFilter
from tests.support.dispatch import Recorder

pytestmark = pytest.mark.integration


def _config(*rules: Rule, broken: tuple[BrokenRule, ...] = ()) -> SyncConfig:
    return SyncConfig({}, rules, {"dst.example": 3}, broken)


REPO_WIDE = parse_rule("src.example/lab/all", "dst.example/m/all", environ={})
REGEX = parse_rule("src.example/lab/re:/^v1/", "dst.example/m/re", environ={})
TAGS = parse_rule("src.example/lab/a:v1,v2", ["dst.example/m/a", "dst.example/n/a"], environ={})
SAME = parse_rule("src.example/lab/a:v1", "dst.example/m/a", environ={})
BROKEN = BrokenRule("src.example/lab/Bad", ("dst.example/m/x", "dst.example/m/y"), "bad name")


def test_listing_rules_are_expanded_by_workers_and_tags_fanned_out_here(
    redis_client: redis.Redis,
) -> None:
    sent = Recorder()
    plan = submit(_config(REPO_WIDE, REGEX, TAGS), SyncOptions(), redis_client, sent)
    expands = [
        ExpandRule.from_body(body) for name, body, _ in sent.sent if name == settings.EXPAND_RULE
    ]
    assert [Rule.from_dict(e.rule) for e in expands] == [REPO_WIDE, REGEX]
    assert {e.plan for e in expands} == {plan}
    tags = [
        TagJob.from_dict(job)
        for name, body, _ in sent.sent
        if name == settings.SYNC_TAGS
        for job in SyncTags.from_body(body).jobs
    ]
    assert sorted(str(t.dest) for t in tags) == [
        "dst.example/m/a:v1",
        "dst.example/m/a:v2",
        "dst.example/n/a:v1",
        "dst.example/n/a:v2",
    ]
    counters = PlanStore(redis_client).status(plan).counters
    assert (counters["tags_total"], counters["rules_pending"]) == (4, 2)


def test_an_image_named_twice_is_sent_once(redis_client: redis.Redis) -> None:
    sent = Recorder()
    plan = submit(_config(TAGS, SAME), SyncOptions(), redis_client, sent)
    assert sent.names == [settings.SYNC_TAGS]
    assert len(SyncTags.from_body(sent.sent[0][1]).jobs) == 4
    assert PlanStore(redis_client).status(plan).counters["tags_total"] == 4


def test_broken_entries_fail_each_destination_and_the_plan_can_end(
    redis_client: redis.Redis,
) -> None:
    sent = Recorder()
    plan = submit(_config(broken=(BROKEN,)), SyncOptions(), redis_client, sent)
    assert sent.sent == []
    status = PlanStore(redis_client).status(plan)
    assert [(r.source, r.dest, r.status, r.reason) for r in status.results] == [
        ("src.example/lab/Bad", "dst.example/m/x", "failed", "bad name"),
        ("src.example/lab/Bad", "dst.example/m/y", "failed", "bad name"),
    ]
    assert status.counters["tags_total"] == 2 and status.finished


def test_the_plan_keeps_its_options_but_no_credential(redis_client: redis.Redis) -> None:
    options = SyncOptions(force=True, platforms=PlatformFilter(("linux",), ("arm64",)))
    plan = submit(_config(TAGS), options, redis_client, Recorder(), source="images.yaml", ttl=120)
    store = PlanStore(redis_client)
    meta = store.meta(plan)
    assert meta["source"] == "images.yaml" and meta["force"] is True and meta["rules"] == 1
    assert meta["platforms"] == {"os": ["linux"], "arch": ["arm64"]}
    assert meta["limits"] == {"dst.example": 3} and meta["ttl"] == 120
    assert store.ttl_for(plan) == 120


def test_the_preview_counts_an_image_two_rules_name_once_as_submit_sends_it(
    redis_client: redis.Redis,
) -> None:
    config = _config(TAGS, SAME)
    sent = Recorder()
    submit(config, SyncOptions(), redis_client, sent)

    images = [job for _, body, _ in sent.sent for job in SyncTags.from_body(body).jobs]
    assert len(preview(config).tag_tasks) == len(images) == 4


def test_the_preview_lists_what_submit_would_send_and_sends_nothing() -> None:
    shown = preview(_config(REPO_WIDE, TAGS, broken=(BROKEN,)))
    assert shown.expand_tasks == ["src.example/lab/all"]
    assert shown.tag_tasks == [
        "src.example/lab/a:v1 -> dst.example/m/a:v1",
        "src.example/lab/a:v2 -> dst.example/m/a:v2",
        "src.example/lab/a:v1 -> dst.example/n/a:v1",
        "src.example/lab/a:v2 -> dst.example/n/a:v2",
    ]
    assert shown.render().splitlines()[-2:] == [
        "failed bad name",
        "dry run: 1 expand_rule task(s) and 4 image(s) in 1 sync_tags task(s) would be enqueued "
        "(nothing was sent)",
    ]
