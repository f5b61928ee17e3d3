"""The dry run's filter lines (syncer.cli.dryrun.filter_report) without a registry."""

from __future__ import annotations

from typing import Any

from syncer.cli.dryrun import filter_report, plan_filter_report
from syncer.config.files import SyncConfig
from syncer.config.ruleparse import parse_rule
from syncer.errors import RegistryError
from tests.support.manifest_store import Listing, Pool


class _Unlistable:
    def for_repo(self, repo: Any) -> Any:
        raise RegistryError("GET tags: HTTP 500\x1b[2J")


def test_a_rule_whose_tags_cannot_be_listed_says_so_on_one_escaped_line() -> None:
    rule = parse_rule("s.io/app", {"to": "d.io/app", "latest": 1}, environ={})
    assert filter_report([rule], _Unlistable()) == [  # type: ignore[arg-type]
        'filter "s.io/app": cannot list tags: GET tags: HTTP 500\\x1b[2J'
    ]


def test_rules_without_filters_add_no_line_and_plan_reads_no_registry() -> None:
    plain = parse_rule("s.io/app", "d.io/app", environ={})
    assert filter_report([plain], _Unlistable()) == []  # type: ignore[arg-type]
    assert plan_filter_report(SyncConfig({}, (plain,), {})) == []


def test_a_filter_that_keeps_nothing_says_so() -> None:
    rule = parse_rule("s.io/app", {"to": "d.io/app", "semver": ">=9"}, environ={})
    lines = filter_report([rule], Pool(Listing(["latest", "1.0.0"])))  # type: ignore[arg-type]
    assert lines == [
        'filter "s.io/app": 2 tags selected by the key',
        'filter "s.io/app": semver ">=9" kept 0 of 2',
        'filter "s.io/app": semver ">=9" dropped 1.0.0: outside the range',
        'filter "s.io/app": semver ">=9" dropped latest: not a semantic version',
        'filter "s.io/app": kept nothing',
    ]
