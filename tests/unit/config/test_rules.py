"""Rules (syncer.config.rules): the object form of an ``images`` value, its errors and round trips.

A plain image-syncer file must mean exactly what it meant before; a mistake
in an object fails the whole file with one line naming the rule and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncer.config.files import ConfigError, load_config
from syncer.config.ruleparse import parse_rule
from syncer.config.rules import Rule
from syncer.config.tagfilters import TagFilters
from syncer.engine.jobs import TagJob
from syncer.oci.reference import ImageRef
from tests.support.configfiles import write
from tests.support.rule_forms import rule_forms

ISSUE_EXAMPLE = r"""
quay.io/org/app:
  to: [harbor.example.com/mirror/app, harbor-dr.example.com/mirror/app]
  include: /^v\d+\.\d+\.\d+$/        # RE2, like every rule regex
  exclude: [/-rc\d*$/, /^sha-/]
  semver: ">=1.20, <2"
  latest: 5
  platforms: [linux/amd64, linux/arm64]
  referrers: true
"""
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
#: Every rule form of tests/compat/test_rules.py, bad ones among them.
COMPAT_RULES: dict[str, Any] = {
    **rule_forms(D1, D2),
    "SRC/lab/app2:/^v[0-9]$/": ["DST/r/regex", "DST/r/regex2"],
}
LEGACY_KEYS = {"key", "source", "kind", "tags", "pattern", "digest", "destinations"}


def load(tmp_path: Path, text: Any, name: str = "images.yaml") -> Any:
    return load_config(images=write(tmp_path, name, text), environ={})


def test_the_issues_example_in_yaml_and_json(tmp_path: Path) -> None:
    (rule,) = load(tmp_path, ISSUE_EXAMPLE).rules
    assert rule.kind == "all"
    assert [str(d) for d in rule.destinations] == [
        "harbor.example.com/mirror/app",
        "harbor-dr.example.com/mirror/app",
    ]
    assert rule.filters == TagFilters(
        include=(r"^v\d+\.\d+\.\d+$",), exclude=(r"-rc\d*$", "^sha-"), semver=">=1.20, <2", latest=5
    )
    assert rule.platforms == ("linux/amd64", "linux/arm64")
    assert rule.referrers is True
    as_json = {
        "quay.io/org/app": {
            "to": ["harbor.example.com/mirror/app", "harbor-dr.example.com/mirror/app"],
            "include": r"/^v\d+\.\d+\.\d+$/",
            "exclude": [r"/-rc\d*$/", "/^sha-/"],
            "semver": ">=1.20, <2",
            "latest": 5,
            "platforms": ["linux/amd64", "linux/arm64"],
            "referrers": True,
        }
    }
    assert load(tmp_path, as_json, "images.json").rules == (rule,)


def test_rules_survive_the_planner_to_worker_round_trip(tmp_path: Path) -> None:
    """What the planner sends as JSON is the rule the worker filters by."""
    (rule,) = load(tmp_path, ISSUE_EXAMPLE).rules
    sent = json.loads(json.dumps(rule.to_dict()))
    assert Rule.from_dict(sent) == rule
    assert sent["filters"]["include"] == [r"/^v\d+\.\d+\.\d+$/"]


def test_a_jobs_platforms_survive_its_round_trip() -> None:
    job = TagJob(
        ImageRef.parse("a.io/x:v1"), ImageRef.parse("b.io/x:v1"), "a.io/x", ("linux/arm64/v8",)
    )
    assert TagJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    plain = TagJob(ImageRef.parse("a.io/x:v1"), ImageRef.parse("b.io/x:v1"), "a.io/x")
    assert plain.to_dict() == {"source": "a.io/x:v1", "dest": "b.io/x:v1", "rule": "a.io/x"}
    with pytest.raises(ConfigError, match="expected a platform"):
        TagJob.from_dict({**plain.to_dict(), "platforms": ["Linux/AMD64"]})


def test_a_decoded_rule_is_checked_like_a_config() -> None:
    data = parse_rule("a.io/x", {"to": "b.io/x", "latest": 2}, environ={}).to_dict()
    with pytest.raises(ConfigError, match="latest: expected a positive integer"):
        Rule.from_dict({**data, "filters": {"latest": -1}})
    with pytest.raises(ConfigError, match="referrers: expected true or false"):
        Rule.from_dict({**data, "referrers": "yes"})


@pytest.mark.parametrize(
    "value",
    ["dst.io/r/x", ["dst.io/r/x", "dst.io/r/y"], "dst.io/r/x:a,b", None, []],
)
@pytest.mark.parametrize("key", ["src.io/r/x", "src.io/r/x:a,b", "src.io/r/x:/^v/"])
def test_an_object_with_only_to_is_the_plain_form(key: str, value: Any) -> None:
    plain = parse_rule(key, value, environ={}, default_registry="reg.io")
    assert parse_rule(key, {"to": value}, environ={}, default_registry="reg.io") == plain
    assert set(plain.to_dict()) == LEGACY_KEYS


def test_a_plain_image_syncer_file_parses_as_before(tmp_path: Path) -> None:
    """Every rule form of the compat suite: the same rules, broken entries and dict forms."""
    text = json.dumps(COMPAT_RULES).replace("SRC", "src.io").replace("DST", "dst.io")
    config = load(tmp_path, text, "images.json")
    assert [r.key for r in config.rules] == [
        k.replace("SRC", "src.io")
        for k in COMPAT_RULES
        if k not in ("SRC/lab/app0:v1,v2 ", "SRC/lab/App0:v1", "SRC/lab/app1:v2", "SRC/lab/app1:v1")
    ]
    assert sorted(b.key for b in config.broken) == [
        "src.io/lab/App0:v1",
        "src.io/lab/app0:v1,v2 ",
        "src.io/lab/app1:v1",
        "src.io/lab/app1:v2",
    ]
    for rule in config.rules:
        assert set(rule.to_dict()) == LEGACY_KEYS
        assert not rule.filters.active and rule.platforms == () and not rule.referrers
        assert rule.platform_filter is None


def test_a_mapping_without_syncer_fields_stays_a_broken_entry(tmp_path: Path) -> None:
    """As before the object form: the entry fails alone, and the reason names syncer's fields."""
    config = load(tmp_path, "a.io/b:\n  c: d\nq.io/ok: q.io/dst\n")
    assert [r.key for r in config.rules] == ["q.io/ok"]
    (bad,) = config.broken
    assert bad.reason.endswith(
        'images["a.io/b"]: destination must be a string or a list of strings, got dict '
        "(syncer's object form takes to, include, exclude, semver, latest, platforms, referrers)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"to": "d.io/x", "lastest": 5}, '"lastest": unknown field; expected to, include, '),
        ({"to": 5}, "to: destination must be a string or a list of strings, got int"),
        (
            {"to": {"to": "d.io/x"}},
            "to: destination must be a string or a list of strings, got dict",
        ),
        ({"to": "d.io/X"}, "to: destination \"d.io/X\": invalid repository name 'd.io/X'"),
        ({"latest": 3}, "to: empty destination needs --registry or DEFAULT_REGISTRY"),
        (
            {"to": "d.io/x", "include": "v1"},
            "include: expected a regex written /like this/, got 'v1'",
        ),
        ({"to": "d.io/x", "exclude": ["/[/"]}, "exclude: invalid regex '['"),
        ({"to": "d.io/x", "semver": ">=1,<x"}, "semver: '<x' is not a comparator"),
        ({"to": "d.io/x", "latest": -2}, "latest: expected a positive integer, got -2"),
        ({"to": "d.io/x", "platforms": []}, "platforms: expected a platform such as linux/amd64"),
        ({"to": "d.io/x", "platforms": ["linux/"]}, "platforms: expected a platform such as"),
        ({"to": "d.io/x", "referrers": "yes"}, "referrers: expected true or false, got 'yes'"),
        ({"to": "d.io/x", "referrers": None}, "referrers: expected true or false, got None"),
    ],
)
def test_a_mistake_in_an_object_fails_the_file_naming_rule_and_field(
    tmp_path: Path, value: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, "images.json", {"s.io/app": value, "q.io/ok": "q.io/dst"})
    with pytest.raises(ConfigError) as info:
        load_config(images=path, environ={})
    text = str(info.value)
    assert text.startswith(f'{path}: images["s.io/app"]: {message}'), text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("key", "field", "what"),
    [
        ("s.io/app:v1,v2", "include", "lists its tags"),
        ("s.io/app:v1", "latest", "lists its tags"),
        ("s.io/app@sha256:" + "a" * 64, "semver", "names a digest"),
    ],
)
def test_tag_filters_need_a_key_that_lists_tags(
    tmp_path: Path, key: str, field: str, what: str
) -> None:
    values = {"include": "/v/", "latest": 1, "semver": ">=1"}
    with pytest.raises(
        ConfigError, match=f"{field}: tag filters need a repo or repo:/regex/ key; this one {what}"
    ):
        parse_rule(key, {"to": "d.io/x", field: values[field]}, environ={})


def test_platforms_and_referrers_go_with_any_key() -> None:
    rule = parse_rule(
        "s.io/app:v1",
        {"to": "d.io/x", "platforms": "linux/arm64/v8", "referrers": False},
        environ={},
    )
    assert rule.platforms == ("linux/arm64/v8",) and rule.referrers is False
    assert rule.platform_filter is not None
    assert rule.platform_filter.matches({"os": "linux", "architecture": "arm64", "variant": "v8"})
    assert not rule.platform_filter.matches(
        {"os": "linux", "architecture": "arm64", "variant": "v7"}
    )


def test_a_regex_key_and_include_must_both_match() -> None:
    rule = parse_rule("s.io/app:/^v1/", {"to": "d.io/x", "include": "/-alpine$/"}, environ={})
    assert rule.kind == "regex" and rule.pattern == "^v1"
    assert rule.matches("v1.2-alpine") and rule.filters.check("v1.2-alpine") is None
    assert rule.matches("v1.2") and rule.filters.check("v1.2") is not None
    assert not rule.matches("v2-alpine")


@pytest.mark.parametrize(
    ("key", "kind", "extra"),
    [
        ("oci:/mnt/usb/app", "all", {}),
        ("oci:/mnt/usb/app:v1,v2", "tags", {"tags": ("v1", "v2")}),
        ("oci:/mnt/usb/app:/^v[0-9]+$/", "regex", {"pattern": "^v[0-9]+$"}),
        (
            "oci-archive:/mnt/usb/app.tar@sha256:" + "a" * 64,
            "digest",
            {"digest": "sha256:" + "a" * 64},
        ),
    ],
)
def test_a_layout_source_takes_every_key_form(
    key: str, kind: str, extra: dict[str, object]
) -> None:
    rule = parse_rule(key, "registry.example/app", environ={})
    assert rule.kind == kind and rule.source.is_layout
    assert rule.source.path == ("/mnt/usb/app.tar" if "archive" in key else "/mnt/usb/app")
    for name, value in extra.items():
        assert getattr(rule, name) == value
    assert Rule.from_dict(rule.to_dict()) == rule


def test_a_layout_destination_takes_renaming_tags() -> None:
    rule = parse_rule("quay.io/a/b:v1", "oci:/mnt/usb/a/b:stable", environ={})
    (dest,) = rule.destinations
    assert (str(dest.repo), dest.tags) == ("oci:/mnt/usb/a/b", ("stable",))


@pytest.mark.parametrize(
    ("key", "kind", "lists"),
    [
        ("src.example/app", "all", True),
        ("src.example/app:/^v1/", "regex", True),
        ("src.example/app:v1,v2", "tags", False),
        (f"src.example/app@{D1}", "digest", False),
    ],
)
def test_only_repo_wide_and_regex_rules_need_a_listing(key: str, kind: str, lists: bool) -> None:
    rule = parse_rule(key, "dst.example/app", environ={})
    assert (rule.kind, rule.needs_listing) == (kind, lists)
