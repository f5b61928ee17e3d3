"""A rule's ``referrers:`` option (syncer.config.referrers).

Parsed, or refused in one line naming the rule and the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.config.files import ConfigError, load_config
from syncer.config.referrers import artifact_types
from syncer.config.rules import Rule
from syncer.engine.referrers import rule_policies
from tests.support.configfiles import write
from tests.support.referrers import SPDX


def _rule(tmp_path: Path, value: object) -> Rule:
    path = write(tmp_path, "images.json", {"s.io/app": {"to": "d.io/x", "referrers": value}})
    (rule,) = load_config(images=path, environ={}).rules
    return rule


def test_referrers_true_or_types_set_the_rule(tmp_path: Path) -> None:
    assert (_rule(tmp_path, True).referrers, _rule(tmp_path, True).referrer_types) == (True, ())
    typed = _rule(tmp_path, {"types": [SPDX, "application/vnd.in-toto+json", SPDX]})
    assert typed.referrers
    assert typed.referrer_types == (SPDX, "application/vnd.in-toto+json")
    assert Rule.from_dict(typed.to_dict()) == typed
    assert typed.to_dict()["referrers"] == {"types": [SPDX, "application/vnd.in-toto+json"]}
    assert rule_policies([typed, _rule(tmp_path, False)]) == {
        "s.io/app": [SPDX, "application/vnd.in-toto+json"]
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"types": []}, "referrers.types: expected a non-empty list of artifact types"),
        ({"types": "a/b"}, "referrers.types: expected a non-empty list of artifact types"),
        ({"types": ["spdx"]}, "referrers.types: 'spdx' is not an artifact type (type/subtype)"),
        ({"types": ["a/b\n"]}, "referrers.types: 'a/b\\n' is not an artifact type"),
        ({"kinds": ["a/b"]}, "referrers: unknown option 'kinds' (only types)"),
        (3, "referrers: expected true or false, got 3"),
    ],
)
def test_a_bad_referrers_value_is_one_line_naming_rule_and_field(
    tmp_path: Path, value: object, message: str
) -> None:
    path = write(tmp_path, "images.json", {"s.io/app": {"to": "d.io/x", "referrers": value}})
    with pytest.raises(ConfigError) as info:
        load_config(images=path, environ={})
    text = str(info.value)
    assert text.startswith(f'{path}: images["s.io/app"]: {message}'), text
    assert "\n" not in text


def test_artifact_types_dedupe_in_order_and_name_the_field() -> None:
    assert artifact_types([SPDX, "a/b", SPDX], "f") == (SPDX, "a/b")
    with pytest.raises(ConfigError, match="^--referrers-type: 'x' is not an artifact type"):
        artifact_types(["x"], "--referrers-type")
