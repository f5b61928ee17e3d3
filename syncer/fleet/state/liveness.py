"""Whether a plan's state in Redis is still that plan: the dataset's epoch, the plan record, losses.

A plan lives in Redis only, and Redis can lose it: restarted without
persistence, flushed, keys evicted under ``maxmemory``, failed over to a
replica the plan had not reached, restarted from an older snapshot. Counters
that vanish read as zeros, and zero images of zero is a finished plan:
``plan --wait`` once exited 0 with 413 of 447 tags missing. So a plan knows
it exists:

- the **epoch**: one key per Redis dataset, created once (by whichever syncer
  process finds none) with a random id, when, and whether the dataset held
  no plan index then. A Redis that restarted empty or was flushed gets a new
  epoch, younger than every plan it lost.
- the **plan record** (the plan's ``meta``): written once by the planner with
  the epoch, a run id, and the number of images it planned; the counters are
  created with it, every field present. A record that is gone, counters that
  lost a field, or that count fewer images than were planned, mean the plan
  is **lost** (:func:`loss`, :func:`why_missing`).
- a follower's **watermark** (:class:`Watermark`): counts that went back
  below what it saw (an older snapshot, a lagging replica) are a loss too.

A lost plan is never finished: ``plan --wait`` re-submits it, ``status``
says ``lost`` and why, and both exit with ``EXIT_LOST``.
"""

from __future__ import annotations

import calendar
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import text

# KEYS[1] = the epoch, KEYS[2] = the plan index; ARGV = a new id, now. Read or
# create, in one step, so two processes that find none agree on one.
_EPOCH = """
local e = redis.call('GET', KEYS[1])
if e then return e end
local fresh = '0'
if redis.call('EXISTS', KEYS[2]) == 0 then fresh = '1' end
e = ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. fresh
redis.call('SET', KEYS[1], e)
return e
"""

#: Why a plan is lost, when only its record is known to be gone.
RECORD_GONE = "its plan record is gone from Redis"


@dataclass(frozen=True, slots=True)
class Epoch:
    """One Redis dataset's stamp: a random id, when it began, and whether it began empty."""

    id: str
    since: float
    #: No plan index existed when the epoch was made: everything older is lost,
    #: not merely from before syncer stamped epochs.
    fresh: bool

    @classmethod
    def parse(cls, raw: bytes | str) -> Epoch:
        """``"<id> <since> <fresh>"`` as stored."""
        ident, since, fresh = text(raw).split(" ")
        return cls(ident, float(since), fresh == "1")


def epoch(client: redis.Redis) -> Epoch:
    """This Redis dataset's epoch, created now if it has none."""
    script = client.register_script(_EPOCH)
    raw = script(keys=[keys.epoch(), keys.plan_index()], args=[secrets.token_hex(8), time.time()])
    return Epoch.parse(raw)


def plan_created(plan: str) -> float | None:
    """When a plan was created, from its id (``20260101-120000-abcdef``, UTC)."""
    try:
        return float(calendar.timegm(time.strptime(plan[:15], "%Y%m%d-%H%M%S")))
    except (ValueError, OverflowError):
        return None


def record(epoch_id: str, images: int) -> dict[str, Any]:
    """The fields that make a plan's metadata its record: stamps, and images planned."""
    return {"epoch": epoch_id, "run": secrets.token_hex(8), "images": images}


def loss(meta: Mapping[str, Any], raw_counters: Mapping[Any, Any]) -> str:
    """Why a plan whose record is present is lost ("" if it is not), from one read."""
    counters = {text(k): int(v) for k, v in raw_counters.items()}
    if "tags_total" not in counters:
        return "its counters are gone from Redis (evicted or deleted)"
    planned = int(meta.get("images") or 0)
    if counters["tags_total"] < planned:
        return (
            f"its counters went back: {planned} image(s) were planned, the counters hold "
            f"{counters['tags_total']} (Redis lost writes)"
        )
    return ""


def leftovers(client: redis.Redis, plan: str) -> int:
    """How many of a plan's long-lived keys remain."""
    return int(client.exists(*keys.plan_keys(plan)))


def why_missing(client: redis.Redis, plan: str) -> str:
    """Why a plan whose record is gone was lost; "" when nothing says it ever was here.

    A fresh epoch younger than the plan's id means the whole dataset started
    over after the plan was made (late tasks may have written a few of its
    keys since): the plan is lost if it ran here, which only its planner
    knows, so the reason says so. Otherwise, keys of the plan that remain
    without its record mean it was cut down: evicted, deleted, or not on a
    replica.
    """
    current = epoch(client)
    created = plan_created(plan)
    # The id holds whole seconds: a plan of the epoch's own second may be younger.
    if current.fresh and created is not None and created + 1 <= current.since:
        began = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(current.since))
        # Nothing here says the plan ran on this Redis: say so, not only why.
        return (
            f"Redis's data started over at {began}, after the plan was made: Redis "
            "restarted without persistence, was flushed, or failed over to a replica without "
            "it (unless the plan ran on another Redis)"
        )
    if leftovers(client, plan):
        return (
            f"{RECORD_GONE}, but some of its keys remain: Redis evicted or deleted it "
            "(see maxmemory-policy), or failed over to a replica without it"
        )
    return ""


#: Counters that only grow while a plan runs, and the one that only shrinks.
_GROWING = ("tags_total", "tags_settled", "blobs_total")


class Watermark:
    """What a follower has seen of one plan: its run, and the highest counts."""

    def __init__(self) -> None:
        self.run: str | None = None
        self.high: dict[str, int] = {}

    def check(self, meta: Mapping[str, Any], counters: Mapping[str, int]) -> str:
        """Why the plan as read now is lost against what was seen ("" if it is not)."""
        run = str(meta.get("run") or "")
        if self.run is None:
            self.run = run
        elif run != self.run:
            return f"its record was replaced (run {self.run or '-'} became {run or '-'})"
        now = dict(counters)
        now["tags_settled"] = sum(counters[f"tags_{k}"] for k in ("done", "skipped", "failed"))
        now["rules_left"] = -counters["rules_pending"]
        # A planner of an older release raised rules_pending after creating its
        # plan; only a plan record (which has a run) starts with it set.
        watched = (*_GROWING, "rules_left") if run else _GROWING
        for field in watched:
            seen = self.high.get(field)
            if seen is not None and now[field] < seen:
                return (
                    f"its counts went back ({field.replace('_', ' ')} {abs(seen)} became "
                    f"{abs(now[field])}): Redis lost writes (a restart from an older snapshot, "
                    "or a failover to a replica that lagged)"
                )
            self.high[field] = max(now[field], seen if seen is not None else now[field])
        return ""
