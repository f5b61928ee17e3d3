"""What image-syncer accepts, syncer accepts: rule forms, YAML quirks, broken entries."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer.config.files import ConfigError, load_auth, load_config
from syncer.config.rules import parse_rule
from syncer.engine.expansion import _pair, explicit_jobs
from syncer.fleet.planner import preview
from syncer.oci.reference import ImageRef, Repository
from syncer.registry.credentials import AuthEntry, Credentials

D1 = "sha256:" + "a" * 64


def one_rule(tmp_path: Path, key: str, value: Any) -> Any:
    (tmp_path / "images.json").write_text(json.dumps({key: value}))
    [rule] = load_config(images=tmp_path / "images.json", environ={}).rules
    return rule


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


def test_a_broken_auth_entry_serves_nothing_else(tmp_path: Path) -> None:
    auth = (
        "quay.io/team:\n  username: u\n"  # no password
        "quay.io/team/ok:\n  username: u2\n  password: p2\n"
        "quay.io/Bad:\n  username: u3\n  password: p3\n"
        "quay.io:\n  username: u4\n  password: p4\n"
    )
    config = load_yaml(tmp_path, auth, "a/b: c/d\n")
    creds = Credentials(config.auth, docker_config=tmp_path / "none.json")
    # A username without a password gives no login, as in image-syncer: anonymous
    # (after the login files), never the shorter prefix's credentials.
    assert creds.lookup(Repository.parse("quay.io/team/x")) == AuthEntry(None, None)
    # An uppercase namespace names no repository (names are lowercase): it serves nothing.
    assert "invalid namespace 'Bad'" in config.auth["quay.io/Bad"].problem
    assert creds.lookup(Repository.parse("quay.io/bad/x")) == AuthEntry("u4", "p4")
    assert creds.lookup(Repository.parse("quay.io/team/ok/x")) == AuthEntry("u2", "p2")
    assert creds.lookup(Repository.parse("quay.io/other/x")) == AuthEntry("u4", "p4")
    problem = config.auth["quay.io/Bad"].problem
    assert "p3" not in problem and "\n" not in problem


def test_plan_preview_lists_broken_entries(tmp_path: Path) -> None:
    images = (
        "quay.io/a/b:v1,v1: quay.io/c/d\nquay.io/a/B:v1: quay.io/c/e\nquay.io/a/f: quay.io/c/f\n"
    )
    text = preview(load_yaml(tmp_path, None, images)).render().splitlines()
    assert text[0] == "expand_rule quay.io/a/f"
    assert text[1] == "image quay.io/a/b:v1 -> quay.io/c/d:v1"  # the repeated tag once
    assert text[2].startswith("failed ") and '["quay.io/a/B:v1"]' in text[2]
    assert text[3].startswith("dry run: 1 expand_rule task(s) and 1 image(s) in 1 sync_tags")


# --- issue 21: the second round, from image-syncer v1.5.5's Go source ----------------------

ROBOT = {
    "auth": {"h.io": {"username": "robot$ci", "password": "${PW}"}},
    "images": {"a/b": "h.io/${NS}/b"},
}


def test_a_legacy_config_file_is_used_as_written(tmp_path: Path) -> None:
    """client/config.go expands credentials of --auth files only; destinations always."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(ROBOT))
    env = {"ci": "NO", "PW": "NO", "NS": "team"}
    config = load_config(path, environ=env)
    assert config.auth["h.io"] == AuthEntry("robot$ci", "${PW}")
    assert str(config.rules[0].destinations[0]) == "h.io/team/b"
    # A worker reading the same file for its credentials reads them the same way.
    assert load_auth(path, environ=env)["h.io"] == AuthEntry("robot$ci", "${PW}")


def test_an_auth_file_expands_its_credentials(tmp_path: Path) -> None:
    (tmp_path / "auth.yaml").write_text(yaml.safe_dump(ROBOT["auth"]))
    env = {"ci": "", "PW": "secret"}
    assert load_auth(tmp_path / "auth.yaml", environ=env)["h.io"] == AuthEntry("robot", "secret")


@pytest.mark.parametrize(
    "entry",
    [
        "username: robot",
        "username: robot\n  password: ${UNSET}",
        "password: only",
        "username: ''\n  password: p",
    ],
)
def test_half_a_login_is_no_login_with_one_warning(
    tmp_path: Path, entry: str, caplog: pytest.LogCaptureFixture
) -> None:
    """sync/source.go sends credentials only when both are non-empty."""
    auth = f"quay.io/team:\n  {entry}\n  insecure: true\nquay.io:\n  username: u\n  password: p\n"
    with caplog.at_level(logging.WARNING):
        config = load_yaml(tmp_path, auth, "a/b: c/d\n")
    assert config.auth["quay.io/team"] == AuthEntry(None, None, insecure=True)
    [warning] = [r.getMessage() for r in caplog.records if "quay.io/team" in r.getMessage()]
    assert "without" in warning and "no credentials from this entry" in warning
    creds = Credentials(config.auth, docker_config=tmp_path / "none.json")
    assert creds.lookup(Repository.parse("quay.io/team/x")) == AuthEntry(None, None, insecure=True)


@pytest.mark.parametrize(
    ("auth", "user", "warns"),
    [
        ("quay.io: {username: a, password: x}\nquay.io/: {username: b, password: y}\n", "b", True),
        ("quay.io/: {username: a, password: x}\nquay.io: {username: b, password: y}\n", "b", True),
        ("quay.io: {username: a, password: x}\nquay.io/: {username: a, password: x}\n", "a", False),
        (
            "docker.io: {username: a, password: x}\nindex.docker.io: {username: b, password: y}\n",
            "b",
            True,
        ),
    ],
)
def test_two_keys_for_one_registry_the_later_wins(
    tmp_path: Path, auth: str, user: str, warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """image-syncer keeps both map keys and uses either (config.go GetAuth); syncer, the later."""
    with caplog.at_level(logging.WARNING):
        config = load_yaml(tmp_path, auth, "a/b: c/d\n")
    [entry] = config.auth.values()
    assert entry.username == user and not entry.problem
    assert ("name the same registry: using" in caplog.text) is warns


def test_json_field_names_match_in_any_case(tmp_path: Path) -> None:
    """encoding/json: "Images", "AUTH", "Username" and "Insecure" are the fields."""
    data = {
        "AUTH": {"h.io": {"Username": "u", "PASSWORD": "p", "Insecure": True}},
        "Images": {"a/b": "h.io/c/d"},
    }
    (tmp_path / "config.json").write_text(json.dumps(data))
    config = load_config(tmp_path / "config.json", environ={})
    assert config.auth["h.io"] == AuthEntry("u", "p", insecure=True)
    assert [r.key for r in config.rules] == ["a/b"]
    assert load_auth(tmp_path / "config.json", environ={})["h.io"].username == "u"


def test_yaml_field_names_are_exact(tmp_path: Path) -> None:
    """yaml.v2 matches the tag exactly: `Username:` is an unknown field."""
    config = load_yaml(tmp_path, "h.io:\n  Username: u\n  Password: p\n", "a/b: c/d\n")
    assert config.auth["h.io"] == AuthEntry(None, None)


@pytest.mark.parametrize(("word", "value"), [("y", True), ("Y", True), ("n", False), ("on", True)])
def test_yaml_v2_booleans_for_insecure(tmp_path: Path, word: str, value: bool) -> None:
    config = load_yaml(tmp_path, f"h.io:\n  insecure: {word}\n", "a/b: c/d\n")
    assert config.auth["h.io"] == AuthEntry(None, None, insecure=value)


def test_only_the_first_value_or_document_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "auth.json").write_text('{"h.io": {"insecure": true}}\n{"x": 1} trailing')
    (tmp_path / "images.yaml").write_text("a/b: c/d\n---\n- not: [read\n")
    with caplog.at_level(logging.WARNING):
        config = load_config(auth=tmp_path / "auth.json", images=tmp_path / "images.yaml")
    assert config.auth["h.io"].insecure and [r.key for r in config.rules] == ["a/b"]
    assert "auth.json: ignoring what follows the first JSON value" in caplog.text
    assert "images.yaml: ignoring the YAML documents after the first" in caplog.text


@pytest.mark.parametrize("text", ["auth: {}\n", "auth: {}\nimages:\n", "images: ~\n"])
def test_a_legacy_file_without_images_copies_nothing_and_succeeds(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """image-syncer decodes no images, runs no rule and exits 0."""
    (tmp_path / "config.yaml").write_text(text)
    config = load_config(tmp_path / "config.yaml", environ={})
    assert (config.rules, config.broken) == ((), ())
    assert "no images: nothing to copy" in caplog.text


@pytest.mark.parametrize(
    ("value", "dest", "warned"),
    [
        ("h.io/c/d$1", "h.io/c/d", "$1"),
        ("h.io/c/d$$", "h.io/c/d", "$$"),
        ("h.io/${T}x/d", "h.io/x/d", "$T"),
    ],
)
def test_destinations_expand_as_go_does(
    tmp_path: Path, value: str, dest: str, warned: str, caplog: pytest.LogCaptureFixture
) -> None:
    """NewImageList runs os.ExpandEnv on every destination: `$1` and `$$` go too."""
    with caplog.at_level(logging.WARNING):
        rule = one_rule(tmp_path, "a/b", value)
    assert str(rule.destinations[0]) == dest
    assert f"{warned} not set, expanded to nothing" in caplog.text


def test_an_empty_tag_after_the_first_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """image-syncer copies v1 and v2 of `v1,,v2,` (and fails a task per empty tag)."""
    rule = parse_rule("quay.io/a/b:v1,,v2,", "quay.io/c/d", environ={})
    assert rule.tags == ("v1", "v2")
    assert 'images["quay.io/a/b:v1,,v2,"]: empty tag ignored' in caplog.text
    with pytest.raises(ConfigError, match="empty tag"):
        parse_rule("quay.io/a/b:,v1", "quay.io/c/d", environ={})


def test_a_tag_goes_to_a_destination_digest() -> None:
    """task/rule.go compares digests only when both sides have one."""
    rule = parse_rule("quay.io/a/b:v1", f"quay.io/c/d@{D1}", environ={})
    [job] = explicit_jobs(rule)
    assert (str(job.source), str(job.dest)) == ("quay.io/a/b:v1", f"quay.io/c/d@{D1}")
    wide = parse_rule("quay.io/a/b", f"quay.io/c/d@{D1}", environ={})
    assert [str(j.dest) for j in _pair(wide, sources("only"))] == [f"quay.io/c/d@{D1}"]
    with pytest.raises(ConfigError, match="2 selected tags but 1 destination digest"):
        _pair(wide, sources("v1", "v2"))
    with pytest.raises(ConfigError, match="2 source tags but one destination digest"):
        parse_rule("quay.io/a/b:v1,v2", f"quay.io/c/d@{D1}", environ={})
