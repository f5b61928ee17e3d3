"""``syncer verify``'s report (cli.verify, engine.verifyrun): table, totals, schema."""

from __future__ import annotations

import json

from syncer.cli.verify import prune_lines, render
from syncer.engine.verify import Check
from syncer.engine.verifyrun import SCHEMA, Report

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def _report() -> Report:
    return Report(
        [
            Check("same", "s/a:v1", "d/a:v1", "s/a", A, A),
            Check("different", "s/a:v2", "d/a:v2", "s/a", A, B),
            Check("extra", "", "d/a:old\x1b[2J", "s/a", dest_digest=B, prune="delete"),
        ],
        pruning=True,
    )


def test_the_table_lists_drift_with_both_digests_and_totals() -> None:
    text = render(_report())
    assert "s/a:v1" not in text  # same rows only with --all
    assert f"source {A} destination {B}" in text
    assert "would prune" in text and "\x1b" not in text and "\\x1b[2J" in text
    assert text.splitlines()[-1] == (
        "verify: 3 tags: 1 same, 0 missing, 1 different, 1 extra, 0 unreadable; the mirror drifted"
    )
    assert "s/a:v1" in render(_report(), show_same=True)


def test_the_json_schema_is_versioned_and_complete() -> None:
    doc = json.loads(json.dumps(_report().to_dict()))
    assert doc["schema"] == SCHEMA == "syncer.verify/v1"
    assert set(doc) == {"schema", "totals", "prune", "checks"}
    assert doc["prune"] == {"delete": 1, "deleted": 0, "kept": 0, "failed": 0, "refused": ""}
    assert [c["status"] for c in doc["checks"]] == ["extra", "same", "different"]  # by dest
    assert Report([Check("same", "s", "d", "r")]).to_dict()["prune"] is None


def test_prune_lines_say_what_happens_to_each_extra_tag() -> None:
    report = _report()
    report.refused = "prune refused: 1 tags would be deleted"
    assert prune_lines(report) == ["would prune d/a:old\\x1b[2J", report.refused]
