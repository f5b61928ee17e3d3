"""Referrer options: a rule's ``referrers:``, ``--referrers-type``, what messages carry."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from syncer.cli.args import add_config_arguments, sync_options
from syncer.config import ConfigError, load_config
from syncer.errors import UnsupportedError
from syncer.fleet.messages import VERSION_KEY, MessageError, SyncTag
from syncer.fleet.referrersteps import plan_meta
from syncer.referrers import Found, ReferrerPolicy, rule_policies
from syncer.registry.referrers import ReferrerEntry
from syncer.rules import Rule
from tests.unit.test_config import write

SPDX = "application/spdx+json"
SUBJECT = "sha256:" + "a" * 64
ENTRY = {"mediaType": "m/t", "digest": "sha256:" + "b" * 64, "size": 3, "artifactType": SPDX}


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


def _options(*argv: str) -> tuple[bool, tuple[str, ...]]:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    options = sync_options(parser.parse_args(list(argv)))
    return options.referrers, options.referrer_types


def test_the_flags_set_the_options() -> None:
    assert _options() == (False, ())
    assert _options("--referrers") == (True, ())
    both = ("--referrers-type", f"{SPDX}, a/b", "--referrers-type", "c/d")
    assert _options(*both) == (True, (SPDX, "a/b", "c/d"))
    with pytest.raises(ConfigError, match="--referrers-type: 'sbom' is not an artifact type"):
        _options("--referrers-type", "sbom")


def test_a_policy_filters_by_type_only_when_it_names_types() -> None:
    assert ReferrerPolicy(True).wants("anything/at-all")
    assert ReferrerPolicy(True, (SPDX,)).wants(SPDX)
    assert not ReferrerPolicy(True, (SPDX,)).wants("application/vnd.in-toto+json")


def test_found_travels_as_text_and_a_bad_one_is_refused() -> None:
    found = Found(SUBJECT, ReferrerEntry.from_json(ENTRY, "t"), 2)
    assert Found.from_text(found.to_text()) == found
    cosign = Found(SUBJECT, None, 1)
    assert Found.from_text(cosign.to_text()) == cosign
    for bad in ("{", '{"subject": "x", "entry": null, "depth": 1}', '{"subject": 1}'):
        with pytest.raises(UnsupportedError):
            Found.from_text(bad)


def test_a_referrer_sync_tag_is_version_3_and_an_older_worker_refuses_it() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class SyncTagV2(SyncTag):
        VERSION = 2

    text = Found(SUBJECT, None, 1).to_text()
    body = SyncTag("p", "s/a:1", "d/a:1", "r", referrer=text).to_body()
    assert body[VERSION_KEY] == 3
    assert SyncTag.from_body(body).referrer == text
    with pytest.raises(MessageError, match="version 3 is newer than 2"):
        SyncTagV2.from_body(body)
    assert VERSION_KEY not in SyncTag("p", "s/a:1", "d/a:1", "r").to_body()


def test_a_plan_without_referrers_adds_nothing_to_its_meta() -> None:
    assert plan_meta(False, (), {}) == {}
    assert plan_meta(True, (SPDX,), {}) == {
        "referrers": {"enabled": True, "types": [SPDX], "rules": {}}
    }
