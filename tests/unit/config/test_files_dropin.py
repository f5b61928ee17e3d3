"""What image-syncer accepts, syncer accepts: rule forms, YAML quirks, broken entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncer.config.files import ConfigError, load_config
from syncer.config.rules import parse_rule
from syncer.engine.expansion import _pair, explicit_jobs
from syncer.fleet.planner import preview
from syncer.oci.reference import ImageRef, Repository
from syncer.registry.credentials import AuthEntry, Credentials

D1 = "sha256:" + "a" * 64


def load_yaml(tmp_path: Path, auth: str | None, images: str) -> Any:
    (tmp_path / "images.yaml").write_text(images)
    auth_path = None
    if auth is not None:
        auth_path = tmp_path / "auth.yaml"
        auth_path.write_text(auth)
    return load_config(auth=auth_path, images=tmp_path / "images.yaml", environ={})


@pytest.mark.parametrize(
    ("written", "text"),
    [
        ("0123", "0123"),  # YAML 1.1 would make it the int 83
        ("123", "123"),
        ("1.50", "1.50"),
        ("1e3", "1e3"),
        ("0x1F", "0x1F"),
        ("true", "true"),
        ("yes", "yes"),
        ("2024-01-01", "2024-01-01"),
        ("'0123'", "0123"),
        ('"007"', "007"),
    ],
)
def test_credentials_are_the_text_written(tmp_path: Path, written: str, text: str) -> None:
    auth = f"quay.io:\n  username: {written}\n  password: {written}\n"
    config = load_yaml(tmp_path, auth, "quay.io/a/b: quay.io/c/d\n")
    assert config.auth["quay.io"] == AuthEntry(text, text)


def test_a_null_credential_is_absent(tmp_path: Path) -> None:
    config = load_yaml(tmp_path, "quay.io:\n  username:\n  password: ~\n", "a/b: c/d\n")
    assert config.auth["quay.io"] == AuthEntry(None, None)


def test_other_fields_keep_their_types(tmp_path: Path) -> None:
    auth = "quay.io:\n  username: 1\n  password: 2\n  insecure: true\n  max_connections: 3\n"
    config = load_yaml(tmp_path, auth, "a/b: c/d\n")
    assert config.auth["quay.io"] == AuthEntry("1", "2", insecure=True, max_connections=3)


def test_tabs_after_a_colon_and_at_line_ends(tmp_path: Path) -> None:
    images = "quay.io/a/b:\tquay.io/c/d\t\nquay.io/a/e:v1: \t quay.io/c/e\n"
    auth = "quay.io:\t\n  username:\trobot\n  password:\t'p w'\t\n"
    config = load_yaml(tmp_path, auth, images)
    assert [(r.key, str(r.destinations[0])) for r in config.rules] == [
        ("quay.io/a/b", "quay.io/c/d"),
        ("quay.io/a/e:v1", "quay.io/c/e"),
    ]
    assert config.auth["quay.io"] == AuthEntry("robot", "p w")


def test_a_tab_inside_quotes_is_kept(tmp_path: Path) -> None:
    config = load_yaml(tmp_path, 'quay.io:\n  username: "a\tb"\n  password: x\n', "a/b: c/d\n")
    assert config.auth["quay.io"].username == "a\tb"


def test_tab_indentation_is_still_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML at line 2"):
        load_yaml(tmp_path, None, "quay.io/a/b:\n\t- quay.io/c/d\n")


def test_repeated_tags_are_copied_once() -> None:
    rule = parse_rule("quay.io/a/b:v1,v2,v1", "quay.io/c/d", environ={})
    assert rule.tags == ("v1", "v2")
    assert [j.label for j in explicit_jobs(rule)] == [
        "quay.io/a/b:v1 -> quay.io/c/d:v1",
        "quay.io/a/b:v2 -> quay.io/c/d:v2",
    ]


def test_repeated_tags_keep_positions_when_renamed() -> None:
    rule = parse_rule("quay.io/a/b:v1,v1", "quay.io/c/d:x,y", environ={})
    assert [str(j.dest) for j in explicit_jobs(rule)] == ["quay.io/c/d:x", "quay.io/c/d:y"]


def sources(*tags: str) -> list[ImageRef]:
    return [ImageRef(Repository.parse("quay.io/a/b"), t) for t in tags]


def test_regex_rule_renames_in_listing_order() -> None:
    rule = parse_rule("quay.io/a/b:/^v/", "quay.io/c/d:one,two", environ={})
    jobs = _pair(rule, sources("v2", "v1"))
    assert [(j.source.tag, j.dest.tag) for j in jobs] == [("v2", "one"), ("v1", "two")]


def test_repo_wide_rule_with_one_destination_tag() -> None:
    rule = parse_rule("quay.io/a/b", "quay.io/c/d:only", environ={})
    assert [j.label for j in _pair(rule, sources("v9"))] == ["quay.io/a/b:v9 -> quay.io/c/d:only"]
    with pytest.raises(ConfigError) as info:
        _pair(rule, sources("v1", "v2"))
    assert str(info.value) == (
        'images["quay.io/a/b"]: destination "quay.io/c/d:only": '
        "the source has 2 selected tags but 1 destination tag"
    )


def test_broken_entries_keep_their_destinations(tmp_path: Path) -> None:
    images = "Quay.io/A/b: [quay.io/x/one, quay.io/x/two]\nquay.io/ok/a: quay.io/ok/b\n"
    config = load_yaml(tmp_path, None, images)
    assert [r.key for r in config.rules] == ["quay.io/ok/a"]
    (bad,) = config.broken
    assert bad.key == "Quay.io/A/b"
    assert bad.destinations == ("quay.io/x/one", "quay.io/x/two")
    assert "invalid repository name" in bad.reason and '["Quay.io/A/b"]' in bad.reason


def test_a_broken_auth_entry_fails_only_what_it_serves(tmp_path: Path) -> None:
    auth = (
        "quay.io/team:\n  username: u\n"  # no password
        "quay.io/team/ok:\n  username: u2\n  password: p2\n"
        "quay.io/Bad:\n  username: u3\n  password: p3\n"
        "quay.io:\n  username: u4\n  password: p4\n"
    )
    config = load_yaml(tmp_path, auth, "a/b: c/d\n")
    creds = Credentials(config.auth, docker_config=tmp_path / "none.json")
    with pytest.raises(ConfigError, match=r'auth\["quay.io/team"\]: username without password'):
        creds.lookup(Repository.parse("quay.io/team/x"))
    # An uppercase namespace names no repository (names are lowercase): it serves nothing.
    assert "invalid namespace 'Bad'" in config.auth["quay.io/Bad"].problem
    assert creds.lookup(Repository.parse("quay.io/bad/x")) == AuthEntry("u4", "p4")
    assert creds.lookup(Repository.parse("quay.io/team/ok/x")) == AuthEntry("u2", "p2")
    assert creds.lookup(Repository.parse("quay.io/other/x")) == AuthEntry("u4", "p4")
    problem = config.auth["quay.io/team"].problem
    assert "p2" not in problem and "\n" not in problem


def test_plan_preview_lists_broken_entries(tmp_path: Path) -> None:
    images = (
        "quay.io/a/b:v1,v1: quay.io/c/d\nquay.io/a/B:v1: quay.io/c/e\nquay.io/a/f: quay.io/c/f\n"
    )
    text = preview(load_yaml(tmp_path, None, images)).render().splitlines()
    assert text[0] == "expand_rule quay.io/a/f"
    assert text[1] == "image quay.io/a/b:v1 -> quay.io/c/d:v1"  # the repeated tag once
    assert text[2].startswith("failed ") and '["quay.io/a/B:v1"]' in text[2]
    assert text[3].startswith("dry run: 1 expand_rule task(s) and 1 image(s) in 1 sync_tags")
