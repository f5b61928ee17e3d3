"""An event never widens the rules; bursts coalesce (syncer.fleet.onpush)."""

from __future__ import annotations

import threading

from syncer.config.files import SyncConfig
from syncer.config.rules import Rule, parse_rule
from syncer.fleet.onpush import Batcher, select
from syncer.fleet.pushevents import Ignored, Push

SRC = "src.example"


def rule(key: str, to: object = "dst.example/m/app", **fields: object) -> Rule:
    value = {"to": to, **fields} if fields else to
    return parse_rule(f"{SRC}/{key}", value, environ={})


def test_only_a_rule_that_selects_the_tag_plans_it_narrowed_to_that_tag() -> None:
    rules = (rule("lab/a"), rule("lab/b:/^v/"), rule("lab/c:v1,v2", "dst.example/m/c:x1,x2"))
    [a] = select(rules, Push(SRC, "lab/a", "v9"))  # type: ignore[misc]
    assert (a.kind, a.tags, a.key) == ("tags", ("v9",), f"{SRC}/lab/a")
    assert select(rules, Push(SRC, "lab/b", "dev")) == Ignored("filtered")
    assert select(rules, Push(SRC, "lab/z", "v1")) == Ignored("no_rule")
    assert select(rules, Push("other.example", "lab/a", "v1")) == Ignored("no_rule")
    [c] = select(rules, Push(None, "lab/c", "v2"))  # type: ignore[misc]
    assert [str(d) for d in c.destinations] == ["dst.example/m/c:x2"]  # renamed by position
    assert select(rules, Push(SRC, "lab/c", "v3")) == Ignored("filtered")


def test_filters_apply_and_latest_waits_for_the_schedule() -> None:
    assert select((rule("lab/a", exclude="/-rc/"),), Push(SRC, "lab/a", "v1-rc")) == Ignored(
        "filtered"
    )
    assert select((rule("lab/a", latest=3),), Push(SRC, "lab/a", "v1")) == Ignored("filtered")
    digest = parse_rule(f"{SRC}/lab/a@sha256:" + "a" * 64, "dst.example/m/a", environ={})
    assert select((digest,), Push(SRC, "lab/a", "v1")) == Ignored("filtered")


def test_a_burst_for_one_tag_is_one_image_in_one_plan() -> None:
    planned: list[SyncConfig] = []
    done = threading.Event()

    def submit(config: SyncConfig) -> str:
        planned.append(config)
        done.set()
        return "p1"

    started: list[tuple[str, int]] = []
    batcher = Batcher(SyncConfig({}, (), {}), submit, 0.2, lambda p, f: started.append((p, len(f))))
    rules = (rule("lab/a"),)
    a1 = select(rules, Push(SRC, "lab/a", "v1"))
    a2 = select(rules, Push(SRC, "lab/a", "v2"))
    assert isinstance(a1, list) and isinstance(a2, list)
    assert [batcher.add(a1), batcher.add(a1), batcher.add(a2)] == [1, 0, 1]
    batcher.start()
    assert done.wait(5)
    batcher.stop()
    [config] = planned
    assert sorted(r.tags[0] for r in config.rules) == ["v1", "v2"]
    assert started == [("p1", 2)]
