"""Verify's pieces (syncer.engine.verify): rows, scopes, listings, extras; faked registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from syncer.config.rules import Rule, parse_rule
from syncer.engine.verify import STATUSES, Check, extras, list_rule, scope, written
from syncer.errors import SyncerError, TransportError
from syncer.oci.models import ManifestHead
from syncer.oci.reference import Repository
from tests.support.manifest_store import Listing, Pool

DIGEST = "sha256:" + "a" * 64


def rule(key: str, to: Any = "dst.io/m/app", **fields: Any) -> Rule:
    return parse_rule(key, {"to": to, **fields} if fields else to, environ={})


def test_a_check_round_trips_and_its_json_row_has_every_field() -> None:
    check = Check("different", "s/a:v1", "d/a:v1", "s/a", DIGEST, DIGEST, "", "")
    row = check.to_dict()
    assert set(row) == {
        "status", "source", "dest", "rule", "source_digest", "dest_digest", "reason", "prune"
    }  # fmt: skip
    assert Check.from_dict(row) == check
    with pytest.raises(SyncerError, match="unknown verify status"):
        Check.from_dict({**row, "status": "fine"})
    assert STATUSES == ("same", "missing", "different", "extra", "unreadable")


def test_only_repo_wide_and_regex_rules_have_a_scope() -> None:
    repo_wide = rule("src.io/app")
    assert scope(repo_wide, repo_wide.destinations[0]) is not None
    regex = rule("src.io/app:/^v1/")
    inside = scope(regex, regex.destinations[0])
    assert inside is not None and inside("v1.2") and not inside("v2.0")
    for key in ("src.io/app:v1,v2", f"src.io/app@{DIGEST}"):
        explicit = rule(key)
        assert scope(explicit, explicit.destinations[0]) is None
    renamed = rule("src.io/app", "dst.io/m/app:a,b")
    assert scope(renamed, renamed.destinations[0]) is None


def test_the_per_tag_filters_narrow_the_scope_but_latest_does_not() -> None:
    r = rule("src.io/app", exclude="/-rc/", latest=1)
    inside = scope(r, r.destinations[0])
    assert inside is not None and inside("v1") and not inside("v2-rc")


class Paged(Listing):
    """Lists the first tags, then fails as a lost second page would."""

    def list_tags(self, repo: Repository, fetch: Any = None) -> Iterator[str]:
        yield from self.tags
        raise TransportError("page 2: connection reset")


def test_a_listing_that_fails_on_a_later_page_has_no_scope() -> None:
    got = list_rule(rule("src.io/app"), Pool(Paged(["v1", "v2"])))  # type: ignore[arg-type]
    assert got.listed is None and got.jobs == []
    assert "connection reset" in got.error


def test_a_complete_listing_keeps_every_listed_tag_even_the_unselected() -> None:
    got = list_rule(rule("src.io/app:/^v/"), Pool(Listing(["v1", "dev"])))  # type: ignore[arg-type]
    assert got.listed == frozenset({"v1", "dev"})
    assert [str(j.dest) for j in got.jobs] == ["dst.io/m/app:v1"]
    explicit = list_rule(rule("src.io/app:v1"), Pool(Listing([])))  # type: ignore[arg-type]
    assert explicit.listed is None and len(explicit.jobs) == 1


class Heads(Listing):
    """Answers HEADs with one digest for every tag."""

    def head_manifest(self, repo: Repository, reference: str, **_: Any) -> ManifestHead:
        return ManifestHead(DIGEST, "application/vnd.oci.image.manifest.v1+json", 10)


def test_extras_skip_what_the_source_or_another_rule_has() -> None:
    r = rule("src.io/app:/^v/")
    pool = Pool(Heads(["v1"]))
    got = list_rule(r, pool)  # type: ignore[arg-type]
    others = written([got])[r.destinations[0].repo] | {"v7"}
    dest_tags = ["v1", "v2", "v7", "dev"]
    found = extras(got, r.destinations[0], dest_tags, others, pool)  # type: ignore[arg-type]
    assert [(c.status, c.dest, c.dest_digest) for c in found] == [
        ("extra", "dst.io/m/app:v2", DIGEST)
    ]
