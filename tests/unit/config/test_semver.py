"""Semantic versions and ranges for a rule's ``semver:`` (syncer.config.semver)."""

from __future__ import annotations

import pytest

from syncer.config.semver import parse_range, version_key
from syncer.errors import ConfigError


@pytest.mark.parametrize(
    ("tag", "is_version"),
    [
        ("1.2.3", True),
        ("v1.2.3", True),
        ("1.2.3-rc.1", True),
        ("1.2.3-0.alpha-1", True),
        ("0.0.0", True),
        ("1.2", False),
        ("1", False),
        ("V1.2.3", False),
        ("01.2.3", False),
        ("1.2.3-01", False),
        ("1.2.3-", False),
        ("1.2.3.4", False),
        ("latest", False),
        ("vv1.2.3", False),
        ("1.2.3 ", False),
    ],
)
def test_what_parses_as_a_version(tag: str, is_version: bool) -> None:
    assert (version_key(tag) is not None) is is_version


def test_precedence_is_the_specs_example_order() -> None:
    """semver.org section 11's example, shuffled, sorts back into place."""
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.9.0",
        "1.10.0",
        "2.0.0",
    ]
    shuffled = [*ordered[5:], *reversed(ordered[:5])]
    assert sorted(shuffled, key=lambda t: version_key(t) or ()) == ordered


@pytest.mark.parametrize(
    ("spec", "inside", "outside"),
    [
        (">=1.20, <2", ["1.20.0", "v1.20.0-rc.1", "1.99.9"], ["1.19.9", "2.0.0-rc.1", "2.0.0"]),
        (">1.2.3", ["1.2.4-alpha", "1.2.4"], ["1.2.3", "1.2.3-rc.1"]),
        (">1.2", ["1.3.0-0", "1.3.0"], ["1.2.99"]),
        ("<=1.2", ["1.2.99", "0.1.0"], ["1.3.0-0", "1.3.0"]),
        ("<=1.2.3", ["1.2.3", "1.2.3-rc.1"], ["1.2.4-0"]),
        ("<1.2.3", ["1.2.3-rc.1", "1.2.2"], ["1.2.3"]),
        ("=1.2.3", ["1.2.3", "v1.2.3"], ["1.2.4", "1.2.3-rc.1"]),
        ("1.2", ["1.2.0", "1.2.9", "1.2.0-rc.1"], ["1.3.0", "1.1.9"]),
        ("!=1.2", ["1.1.0", "1.3.0"], ["1.2.5"]),
        ("!=1.2.3", ["1.2.4"], ["1.2.3"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("^1.2.3", ["1.2.3", "1.9.9"], ["2.0.0", "1.2.2"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("^0", ["0.9.9"], ["1.0.0"]),
        ("  >= v1.0.0 ,< 1.1 ", ["1.0.5"], ["1.1.0"]),
    ],
)
def test_ranges(spec: str, inside: list[str], outside: list[str]) -> None:
    parsed = parse_range(spec)
    assert [t for t in inside if not parsed.contains(t)] == []
    assert [t for t in outside if parsed.contains(t)] == []


def test_a_tag_that_is_not_a_version_is_outside_every_range() -> None:
    assert not parse_range(">=0").contains("latest")
    assert not parse_range("!=9").contains("1.2")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "expected a version range"),
        ("  ", "expected a version range"),
        (">=1.x", "'>=1.x' is not a comparator"),
        (">=1.2,", "'' is not a comparator"),
        ("=>1", "'=>1' is not a comparator"),
        ("1.2.3 || 2", "'1.2.3 || 2' is not a comparator"),
        ("~01.2", "'~01.2' is not a comparator"),
    ],
)
def test_bad_ranges_say_which_comparator(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("|", r"\|").replace(".", r"\.")):
        parse_range(spec)
