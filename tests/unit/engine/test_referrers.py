"""Referrer options: a rule's ``referrers:``, ``--referrers-type``, what messages carry."""

from __future__ import annotations

import pytest

from syncer.engine.referrers import Found, ReferrerPolicy
from syncer.errors import UnsupportedError
from syncer.registry.referrers import ReferrerEntry
from tests.support.referrers import ENTRY, SPDX, SUBJECT


def test_a_policy_filters_by_type_only_when_it_names_types() -> None:
    assert ReferrerPolicy(True).wants("anything/at-all")
    assert ReferrerPolicy(True, (SPDX,)).wants(SPDX)
    assert not ReferrerPolicy(True, (SPDX,)).wants("application/vnd.in-toto+json")


def test_found_travels_as_text_and_a_bad_one_is_refused() -> None:
    found = Found(SUBJECT, ReferrerEntry.from_json(ENTRY, "t"), 2)
    assert Found.from_text(found.to_text()) == found
    cosign = Found(SUBJECT, None, 1)
    assert Found.from_text(cosign.to_text()) == cosign
    rooted = Found(SUBJECT, None, 1, "src/app:v1 -> dst/app:v1")
    assert Found.from_text(rooted.to_text()) == rooted
    # Written by a worker from before the cap per image: no root, counted as its own.
    older = f'{{"subject": "{SUBJECT}", "entry": null, "depth": 1}}'
    assert Found.from_text(older) == Found(SUBJECT, None, 1, "")
    for bad in ("{", '{"subject": "x", "entry": null, "depth": 1}', '{"subject": 1}'):
        with pytest.raises(UnsupportedError):
            Found.from_text(bad)
