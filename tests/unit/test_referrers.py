"""Referrer options: a rule's ``referrers:``, ``--referrers-type``, what messages carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.config import load_config
from syncer.errors import UnsupportedError
from syncer.referrers import Found, ReferrerPolicy
from syncer.registry.referrers import ReferrerEntry
from syncer.rules import Rule
from tests.support.configfiles import write

SPDX = "application/spdx+json"
SUBJECT = "sha256:" + "a" * 64
ENTRY = {"mediaType": "m/t", "digest": "sha256:" + "b" * 64, "size": 3, "artifactType": SPDX}


def _rule(tmp_path: Path, value: object) -> Rule:
    path = write(tmp_path, "images.json", {"s.io/app": {"to": "d.io/x", "referrers": value}})
    (rule,) = load_config(images=path, environ={}).rules
    return rule


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
