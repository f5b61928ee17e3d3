"""``syncer status ID --output json`` is a documented, stable format: its fields are pinned here.

If a test here fails, a script reading the report breaks: keep the old
field, or document the change in docs/fleet.md ("`syncer status ID --output json`")
and here together.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from syncer.cli.planview import report
from syncer.engine.jobs import ImageResult
from syncer.fleet.state.plans import COUNTER_FIELDS, PlanStatus

FLEET_PAGE = Path(__file__).resolve().parents[3] / "docs" / "fleet.md"

TOP = [
    "plan",
    "state",
    "counters",
    "images",
    "blobs",
    "bytes",
    "elapsed_seconds",
    "throughput_bytes_per_second",
    "failed",
    "results",
]
COUNTS = ["total", "done", "skipped", "failed"]
RESULT = ["source", "dest", "status", "reason", "bytes", "rule", "transient"]


def _status() -> PlanStatus:
    counters = dict.fromkeys(COUNTER_FIELDS, 0) | {"tags_total": 2, "tags_done": 1}
    counters |= {"tags_failed": 1, "bytes_total": 10, "bytes_done": 10, "blobs_mounted": 1}
    results = [
        ImageResult("s/a:1", "d/a:1", "synced", bytes=10, rule="s/a"),
        ImageResult("s/a:2", "d/a:2", "failed", "HTTP 404", rule="s/a"),
    ]
    meta = {"created": time.time() - 4, "ended": time.time()}
    return PlanStatus("20260101-000000-abcdef", meta, counters, False, results)


def test_the_report_has_exactly_the_documented_fields() -> None:
    data = report(_status())
    assert list(data) == TOP
    assert data["state"] == "finished" and data["plan"] == "20260101-000000-abcdef"
    assert list(data["counters"]) == list(COUNTER_FIELDS)
    assert list(data["images"]) == COUNTS and list(data["bytes"]) == COUNTS
    assert list(data["blobs"]) == [*COUNTS, "mounted"]
    assert [list(r) for r in data["results"]] == [RESULT, RESULT]
    assert [r["dest"] for r in data["failed"]] == ["d/a:2"]
    assert isinstance(data["elapsed_seconds"], float)
    assert isinstance(data["throughput_bytes_per_second"], int)


def test_the_docs_document_every_field() -> None:
    section = FLEET_PAGE.read_text(encoding="utf-8").split("## `syncer status ID --output json`")[1]
    top, entry = section.split("\n**")[0].split("Each entry of `results`")

    def fields(text: str) -> list[str]:
        return re.findall(r"^- `([a-z_]+)`", text, flags=re.M)

    assert fields(top) == [*TOP, "lost"]  # lost: only in the report of a lost plan
    assert fields(entry) == RESULT


def test_a_lost_plan_says_so_and_why() -> None:
    from dataclasses import replace

    data = report(replace(_status(), lost="its plan record is gone from Redis"))
    assert list(data) == [*TOP, "lost"]
    assert data["state"] == "lost" and data["lost"] == "its plan record is gone from Redis"
