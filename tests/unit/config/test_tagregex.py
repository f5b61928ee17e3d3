"""Tag regexes read as Go's regexp (RE2) reads them, unanchored like MatchString."""

from __future__ import annotations

import pytest

from syncer.config.ruleparse import parse_rule
from syncer.config.tagregex import compile_tag_regex, tag_matches
from syncer.errors import ConfigError


@pytest.mark.parametrize(
    ("pattern", "tag", "hit"),
    [
        # POSIX classes: Python's re reads [[:digit:]] as a set plus "]", matching nothing here.
        ("^v[[:digit:]]$", "v1", True),
        ("^v[[:digit:]]$", "v12", False),
        (r"\pL", "1a2", True),
        (r"^\pN+$", "123", True),
        (r"^\pN+$", "12a", False),
        # Unanchored, as Go's MatchString: a match anywhere counts.
        ("1.2", "v1.2.3", True),
        ("alpine", "3.19-alpine-slim", True),
        ("^latest$", "latest-rc", False),
        ("", "anything", True),
        (r"\Qa.b\E", "xa.by", True),
        (r"\Qa.b\E", "axb", False),
        ("(?i)^V1$", "v1", True),
    ],
)
def test_go_semantics(pattern: str, tag: str, hit: bool) -> None:
    assert tag_matches(pattern, tag) is hit


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(?=v)", "invalid perl operator: (?="),
        ("(?!v)", "invalid perl operator: (?!"),
        ("(?<=v)1", "invalid perl operator: (?<"),
        (r"(a)\1", "invalid escape sequence"),
        ("[", "missing ]"),
        ("a**", "bad repetition operator"),
    ],
)
def test_what_go_rejects_is_a_config_error(pattern: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_tag_regex(pattern)
    assert reason in str(info.value)
    assert repr(pattern) in str(info.value)


def test_a_regex_rule_matches_with_re2() -> None:
    rule = parse_rule("quay.io/a/b:/^v[[:digit:]]$/", "quay.io/c/d", environ={})
    assert [t for t in ("v1", "v2", "v10", "latest") if rule.matches(t)] == ["v1", "v2"]


def test_compile_errors_print_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    # RE2 logs parse errors to stderr unless told not to; the ConfigError is the message.
    with pytest.raises(ConfigError):
        compile_tag_regex("(?=quiet)")
    out, err = capfd.readouterr()
    assert out == err == ""
