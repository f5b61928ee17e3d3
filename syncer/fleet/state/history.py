"""Plan history: the recent plans and their counters, and re-planning a plan's failures.

Every plan is indexed by when it was created (:func:`syncer.fleet.protocol.keys.plan_index`);
its state keeps the plan's own TTL, and :func:`recent` drops from the index
the plans that have expired. A plan whose record is gone while its counters
remain, or whose counters Redis lost, is listed as ``lost``
(``fleet/state/liveness.py``), never as finished. :func:`recent` is the one reader of plan-level
counters across plans (``syncer plans``, and gauges later).

:func:`retry_config` rebuilds, from a finished plan's failed results, the
rules that select exactly those images: a failed image ``src:tag -> dst:tag``
becomes that one-tag rule, and a rule whose tags could not be listed (its
result names the rule and its destination) becomes that rule again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

import redis

from syncer.config.files import SyncConfig
from syncer.config.ruleparse import parse_rule
from syncer.config.rules import BrokenRule, Rule
from syncer.engine.options import SyncOptions
from syncer.errors import ConfigError
from syncer.fleet.protocol import keys
from syncer.fleet.state import liveness
from syncer.fleet.state.guard import text
from syncer.fleet.state.plans import COUNTER_FIELDS, PlanStatus, PlanStore
from syncer.oci.manifest import PlatformFilter

#: ``syncer plans`` reads the index this many plans per round trip.
PLAN_INDEX_PAGE = 200


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """One row of ``syncer plans``."""

    plan: str
    schedule: str
    state: str
    started: float
    duration: float
    counters: dict[str, int]
    source: str = ""
    #: Why Redis lost the plan, when it did.
    lost: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON row of ``syncer plans --output json``."""
        c = self.counters
        return {
            "plan": self.plan,
            "schedule": self.schedule,
            "state": self.state,
            "started": self.started,
            "duration_seconds": round(self.duration, 3),
            "bytes": c["bytes_done"],
            "synced": c["tags_done"],
            "unchanged": c["tags_skipped"],
            "failed": c["tags_failed"],
            "source": self.source,
            "lost": self.lost,
        }


def recent(client: redis.Redis, limit: int = 20, schedule: str = "") -> list[PlanSummary]:
    """The newest ``limit`` plans still in Redis (of ``schedule`` only, if named), newest first."""
    found: list[PlanSummary] = []
    start = 0
    while len(found) < limit:
        chunk = client.zrevrange(keys.plan_index(), start, start + PLAN_INDEX_PAGE - 1)
        ids = [text(p) for p in cast(list[bytes], chunk)]
        if not ids:
            break
        start += len(ids)
        rows = _read(client, ids)
        gone = [plan for plan, row in zip(ids, rows, strict=True) if row is None]
        if gone:
            client.zrem(keys.plan_index(), *gone)
            start -= len(gone)
        found += [r for r in rows if r is not None and (not schedule or r.schedule == schedule)]
    return found[:limit]


def summary(client: redis.Redis, plan: str) -> PlanSummary | None:
    """One plan's summary, or None if it expired."""
    return _read(client, [plan])[0]


def _read(client: redis.Redis, ids: list[str]) -> list[PlanSummary | None]:
    """Each plan's summary, without its (possibly long) list of results; None once expired."""
    pipe = client.pipeline()
    for plan in ids:
        pipe.get(keys.plan_meta(plan))
        pipe.hgetall(keys.plan_counters(plan))
        pipe.exists(keys.plan_cancelled(plan))
        pipe.get(keys.plan_ended(plan))
    replies = pipe.execute()
    now = time.time()
    rows: list[PlanSummary | None] = []
    for i, plan in enumerate(ids):
        raw_meta, raw_counters, cancelled, ended = replies[4 * i : 4 * i + 4]
        if not raw_meta and not raw_counters:
            rows.append(None)  # expired
            continue
        meta = json.loads(raw_meta) if raw_meta else {"created": liveness.plan_created(plan)}
        counters = dict.fromkeys(COUNTER_FIELDS, 0)
        counters.update({text(k): int(v) for k, v in raw_counters.items()})
        lost = liveness.loss(meta, raw_counters) if raw_meta else liveness.RECORD_GONE
        status = PlanStatus(plan, meta, counters, bool(cancelled), [], lost)
        created = float(meta.get("created") or now)
        end = float(ended) if ended else now
        rows.append(
            PlanSummary(
                plan=plan,
                schedule=str(meta.get("schedule") or ""),
                state=status.state,
                started=created,
                duration=max(end - created, 0.0),
                counters=counters,
                source=str(meta.get("source") or ""),
                lost=lost,
            )
        )
    return rows


def retry_config(store: PlanStore, plan: str) -> tuple[SyncConfig, SyncOptions]:
    """The config and options that re-plan exactly the failed images of a finished ``plan``."""
    if not store.exists(plan):
        raise ConfigError(f"plan {plan!r} not found (expired, or another Redis?)")
    status = store.status(plan)
    if not status.finished:
        raise ConfigError(f"plan {plan} is still running: retry its failures once it has finished")
    dests: dict[str, list[str]] = {}
    for result in status.results:
        if result.status == "failed" and result.dest not in dests.setdefault(result.source, []):
            dests[result.source].append(result.dest)
    rules: list[Rule] = []
    broken: list[BrokenRule] = []
    for source, targets in dests.items():
        try:
            # Destinations are recorded expanded: nothing is left for the environment.
            rules.append(parse_rule(source, targets, environ={}))
        except ConfigError as exc:
            broken.append(BrokenRule(source, tuple(targets), f"images[{source!r}]: {exc}"))
    meta = status.meta
    options = SyncOptions(
        force=bool(meta.get("force")),
        platforms=PlatformFilter.from_dict(meta.get("platforms")),
    )
    limits = {str(k): int(v) for k, v in (meta.get("limits") or {}).items()}
    return SyncConfig(auth={}, rules=tuple(rules), limits=limits, broken=tuple(broken)), options
