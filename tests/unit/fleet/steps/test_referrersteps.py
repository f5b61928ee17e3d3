"""Referrers in the fleet (syncer.fleet.steps.referrersteps).

Their message version, and what a plan's meta says of them.
"""

from __future__ import annotations

import dataclasses

import pytest

from syncer.engine.referrers import Found
from syncer.errors import MessageError
from syncer.fleet.protocol.messages import VERSION_KEY, SyncTag
from syncer.fleet.steps.referrersteps import plan_meta
from tests.support.referrers import SPDX, SUBJECT


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
