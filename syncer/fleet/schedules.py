"""Schedules: named rules the fleet plans again and again, kept in Redis without credentials.

A schedule holds what ``syncer plan`` would send: rules (references only),
connection limits and plan options. Its timing lives in a celery-redbeat
entry (:mod:`syncer.fleet.beat`); ``syncer beat`` sends ``syncer.run_schedule``
when it is due, and a worker runs :func:`start`, as ``syncer schedule run``
does. :func:`start` plans through the same :func:`syncer.fleet.planner.submit` as
``syncer plan``, unless the schedule's previous plan still runs: then it
records a skip. A previous plan Redis lost (``fleet/state/liveness.py``) does not
run: the tick records the loss and plans afresh. Credentials stay in the
workers' own auth files.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from syncer.config.files import SyncConfig
from syncer.config.rules import Rule
from syncer.defaults import PLAN_TTL
from syncer.engine.options import SyncOptions
from syncer.errors import ConfigError
from syncer.fleet.protocol import keys
from syncer.fleet.state import liveness
from syncer.fleet.state.guard import text
from syncer.fleet.state.plans import PlanStore
from syncer.oci.manifest import PlatformFilter

#: How long one start may hold a schedule, in seconds: enough to enqueue
#: thousands of tags (a second start meanwhile would not yet see the new plan),
#: and the longest a worker that died mid-start keeps the schedule from starting.
SCHEDULE_STARTING_TTL = 300


#: Schedule names: they are parts of Redis keys and of redbeat entry keys.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}\Z")
#: ``--every``: a whole number of seconds, minutes, hours or days.
_DURATION = re.compile(r"(\d+)([smhd]?)\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def check_name(name: str) -> str:
    """``name`` if it can name a schedule, else :class:`ConfigError`."""
    if not NAME.match(name):
        raise ConfigError(
            f"schedule name {name!r}: use 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter "
            "or digit"
        )
    return name


def parse_every(value: str) -> int:
    """``30s``, ``15m``, ``2h``, ``1d`` (or bare seconds) in seconds, else :class:`ConfigError`."""
    match = _DURATION.match(value.strip())
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if seconds < 1:
        raise ConfigError(f"--every {value!r}: give a duration such as 30s, 15m, 2h or 1d")
    return seconds


def describe_every(seconds: int) -> str:
    """The largest whole unit: ``900`` -> ``15m``."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule: its rules and plan options, and either ``every`` seconds or a ``cron`` line."""

    name: str
    rules: tuple[Rule, ...]
    every: int = 0
    cron: str = ""
    limits: Mapping[str, int] = field(default_factory=dict)
    force: bool = False
    platforms: PlatformFilter = field(default_factory=PlatformFilter)
    ttl: int = PLAN_TTL
    source: str = ""
    paused: bool = False

    @property
    def timing(self) -> str:
        """``every 15m`` or ``cron 0 */2 * * *``."""
        return f"cron {self.cron}" if self.cron else f"every {describe_every(self.every)}"

    def config(self) -> SyncConfig:
        """What the planner plans: these rules, no credentials."""
        return SyncConfig(auth={}, rules=self.rules, limits=dict(self.limits))

    def options(self) -> SyncOptions:
        """The plan options the schedule was added with."""
        return SyncOptions(force=self.force, platforms=self.platforms)

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives, as stored in Redis."""
        return {
            "name": self.name,
            "rules": [r.to_dict() for r in self.rules],
            "every": self.every,
            "cron": self.cron,
            "limits": dict(self.limits),
            "force": self.force,
            "platforms": self.platforms.to_dict(),
            "ttl": self.ttl,
            "source": self.source,
            "paused": self.paused,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """The inverse of :meth:`to_dict`; every rule is validated again."""
        try:
            return cls(
                name=check_name(str(data["name"])),
                rules=tuple(Rule.from_dict(r) for r in data["rules"]),
                every=int(data.get("every") or 0),
                cron=str(data.get("cron") or ""),
                limits={str(k): int(v) for k, v in (data.get("limits") or {}).items()},
                force=bool(data.get("force")),
                platforms=PlatformFilter.from_dict(data.get("platforms")),
                ttl=int(data.get("ttl") or PLAN_TTL),
                source=str(data.get("source") or ""),
                paused=bool(data.get("paused")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"cannot decode Schedule: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Runs:
    """What a schedule did so far."""

    last_run: float | None = None
    last_plan: str = ""
    runs: int = 0
    skips: int = 0
    last_skip: float | None = None
    #: Plans of this schedule Redis lost, the last of them, and why.
    lost: int = 0
    last_lost: str = ""
    lost_reason: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one :func:`start` did: ``plan`` started, or ``skipped`` (why), or ``paused``."""

    plan: str = ""
    skipped: str = ""
    paused: bool = False

    @property
    def word(self) -> str:
        """``started``, ``skipped`` or ``paused``, for task results and logs."""
        return "started" if self.plan else ("paused" if self.paused else "skipped")


class ScheduleStore:
    """Schedules and their runs in Redis; the client is injected."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def add(self, schedule: Schedule) -> None:
        """Store a new schedule; :class:`ConfigError` if the name is taken."""
        if not self.redis.hsetnx(keys.schedules(), schedule.name, json.dumps(schedule.to_dict())):
            raise ConfigError(f"schedule {schedule.name!r} exists: remove it first")

    def get(self, name: str) -> Schedule:
        """The named schedule; :class:`ConfigError` if there is none."""
        raw = self.redis.hget(keys.schedules(), name)
        if raw is None:
            raise ConfigError(f"schedule {name!r} not found")
        return Schedule.from_dict(json.loads(raw))

    def all(self) -> list[Schedule]:
        """Every schedule, by name."""
        raw = self.redis.hgetall(keys.schedules())
        return sorted(
            (Schedule.from_dict(json.loads(v)) for v in raw.values()), key=lambda s: s.name
        )

    def remove(self, name: str) -> None:
        """Forget the schedule and its runs (plans it started keep their own TTL)."""
        pipe = self.redis.pipeline()
        pipe.hdel(keys.schedules(), name)
        pipe.delete(keys.schedule_runs(name))
        if not pipe.execute()[0]:
            raise ConfigError(f"schedule {name!r} not found")

    def set_paused(self, name: str, paused: bool) -> Schedule:
        """Pause or resume; return the schedule as stored now."""
        schedule = self.get(name)
        data = {**schedule.to_dict(), "paused": paused}
        self.redis.hset(keys.schedules(), name, json.dumps(data))
        return Schedule.from_dict(data)

    def runs(self, name: str) -> Runs:
        """The schedule's run record."""
        raw = {text(k): text(v) for k, v in self.redis.hgetall(keys.schedule_runs(name)).items()}
        return Runs(
            last_run=float(raw["last_run"]) if raw.get("last_run") else None,
            last_plan=raw.get("last_plan", ""),
            runs=int(raw.get("runs") or 0),
            skips=int(raw.get("skips") or 0),
            last_skip=float(raw["last_skip"]) if raw.get("last_skip") else None,
            lost=int(raw.get("lost") or 0),
            last_lost=raw.get("last_lost", ""),
            lost_reason=raw.get("lost_reason", ""),
        )

    def record_start(self, name: str, plan: str, when: float) -> None:
        """The schedule started ``plan``."""
        key = keys.schedule_runs(name)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping={"last_run": repr(when), "last_plan": plan})
        pipe.hincrby(key, "runs", 1)
        pipe.execute()

    def record_lost(self, name: str, plan: str, why: str) -> None:
        """The schedule's last plan was lost (counted once per plan)."""
        key = keys.schedule_runs(name)
        if self.redis.hget(key, "last_lost") in (plan, plan.encode()):
            return
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping={"last_lost": plan, "lost_reason": why})
        pipe.hincrby(key, "lost", 1)
        pipe.execute()

    def record_skip(self, name: str, when: float) -> None:
        """The schedule was due while its previous plan still ran."""
        key = keys.schedule_runs(name)
        pipe = self.redis.pipeline()
        pipe.hset(key, "last_skip", repr(when))
        pipe.hincrby(key, "skips", 1)
        pipe.execute()


def start(client: redis.Redis, name: str, dispatcher: Any, *, manual: bool = False) -> Outcome:
    """Plan the schedule now, unless its previous plan still runs (a skip) or it is paused.

    ``manual`` (``syncer schedule run``) starts a paused schedule too. One start
    at a time holds the schedule, so two ticks that arrive together (a
    redelivery, ``schedule run`` during a tick) never both plan.
    """
    from syncer.fleet import planner  # the planner pulls in the fleet's steps; only starts need it

    store = ScheduleStore(client)
    schedule = store.get(name)
    if schedule.paused and not manual:
        return Outcome(paused=True)
    token = secrets.token_hex(8)
    if not client.set(keys.schedule_starting(name), token, nx=True, ex=SCHEDULE_STARTING_TTL):
        store.record_skip(name, time.time())
        return Outcome(skipped="another start of this schedule is under way")
    try:
        running = _still_running(client, store, name)
        if running:
            store.record_skip(name, time.time())
            return Outcome(skipped=f"plan {running} still runs")
        plan = planner.submit(
            schedule.config(),
            schedule.options(),
            client,
            dispatcher,
            source=f"schedule {name} ({schedule.source})",
            ttl=schedule.ttl,
            meta={"schedule": name},
        )
        store.record_start(name, plan, time.time())
        return Outcome(plan=plan)
    finally:
        if text(client.get(keys.schedule_starting(name)) or b"") == token:
            client.delete(keys.schedule_starting(name))


def _still_running(client: redis.Redis, store: ScheduleStore, name: str) -> str:
    """The schedule's last plan if it is known, not cancelled, not finished and not lost; else "".

    A lost one is recorded as such, and cancelled if Redis still has its
    record, so its stray tasks stop.
    """
    plan = store.runs(name).last_plan
    if not plan:
        return ""
    plans = PlanStore(client)
    standing = plans.standing(plan)
    if standing == "cancelled":
        return ""
    if standing == "unknown":
        why = liveness.why_missing(client, plan)
        if why:
            store.record_lost(name, plan, why)
        return ""
    status = plans.status(plan, results=False)
    if status.lost:
        store.record_lost(name, plan, status.lost)
        plans.cancel(plan)
        return ""
    return "" if status.finished else plan
