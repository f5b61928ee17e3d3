"""Per-plan state in Redis: metadata, progress counters, results, cancellation.

Every key of a plan expires ``ttl`` seconds after the plan's last update:
each key gets its expiry when it is made, the counters' is pushed back by
every update, and the others' by a worker process at most every
:data:`~syncer.defaults.PLAN_KEEP_EVERY` seconds (:meth:`PlanStore.keep_due`)
and by the update that ends the plan.
Counters are bumped only by the first execution of a step (the callers guard
with set membership, in one step: ``fleet/state/ledger.py``), so a redelivered task
never counts twice. A plan whose state Redis lost is ``lost``, never finished
(``fleet/state/liveness.py``).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import redis

from syncer import metrics
from syncer.defaults import PLAN_INDEX_MAX, PLAN_KEEP_EVERY, PLAN_SETTINGS_KEPT, PLAN_TTL
from syncer.engine.jobs import ImageResult
from syncer.engine.progress import Counter, Stats
from syncer.fleet.protocol import keys
from syncer.fleet.state import liveness
from syncer.fleet.state.guard import text

COUNTER_FIELDS = tuple(
    f"{kind}_{attr}"
    for kind in ("tags", "blobs", "bytes")
    for attr in ("total", "done", "skipped", "failed")
) + ("blobs_mounted", "rules_pending")

#: Counters whose change may end a plan.
_ENDING = frozenset({"tags_done", "tags_skipped", "tags_failed", "rules_pending"})
#: The metadata field that says the plan's working keys were made with it, with
#: its TTL (so a step need not set their expiry): 2 from this release on.
KEYS_FIELD, KEYS_MADE = "keys", 2
#: What marks a working key made empty with the plan (never a blob key: those hold "@").
PLACEHOLDER = "plan"


@dataclass(frozen=True, slots=True)
class PlanStatus:
    """A snapshot of a plan's progress."""

    plan: str
    meta: dict[str, Any]
    counters: dict[str, int]
    cancelled: bool
    results: list[ImageResult]
    #: Why Redis lost the plan's state; "" while it has it.
    lost: str = ""

    @property
    def finished(self) -> bool:
        """All rules expanded and every tag accounted for (or cancelled); never when lost."""
        if self.lost:
            return False
        c = self.counters
        settled = c["tags_done"] + c["tags_skipped"] + c["tags_failed"]
        return self.cancelled or (c["rules_pending"] <= 0 and settled >= c["tags_total"])

    @property
    def state(self) -> str:
        """``running``, ``finished``, ``cancelled`` or ``lost``."""
        if self.lost:
            return "lost"
        if self.cancelled:
            return "cancelled"
        return "finished" if self.finished else "running"

    def stats(self) -> Stats:
        """The counters as the embedded :class:`Stats`, for the shared summary."""
        c = self.counters

        def counter(kind: str) -> Counter:
            return Counter(
                c[f"{kind}_total"], c[f"{kind}_done"], c[f"{kind}_skipped"], c[f"{kind}_failed"]
            )

        stats = Stats(
            images=counter("tags"),
            blobs=counter("blobs"),
            bytes=counter("bytes"),
            mounted=c["blobs_mounted"],
            results=list(self.results),
        )
        # Wall-clock times from Redis, on this process's monotonic clock.
        now, mono = time.time(), time.monotonic()
        created = float(self.meta.get("created", now))
        stats.started = mono - (now - created)
        if self.meta.get("ended"):
            stats.ended = stats.started + max(float(self.meta["ended"]) - created, 0.0)
        return stats


class PlanStore:
    """Reads and writes plan state; the client is injected."""

    def __init__(self, client: redis.Redis, ttl: int = PLAN_TTL) -> None:
        self.redis = client
        self.ttl = ttl
        self._ttls: dict[str, int] = {}
        self._settings: dict[str, dict[str, Any]] = {}
        #: When this process last pushed back the expiry of each plan's keys.
        self._kept: dict[str, float] = {}

    def create(self, meta: dict[str, Any], *, images: int = 0, rules_pending: int = 0) -> str:
        """Register a new plan of ``images`` images and ``rules_pending`` pending rules; its id.

        Its metadata is its record (``fleet/state/liveness.py``): written once, with
        this dataset's epoch, a run id and ``images``; the counters are
        created with it, every field present.
        """
        # The epoch first: a plan's id is then never older than the dataset it was
        # made in, so it cannot pass for one lost when that dataset began.
        stamp = liveness.record(liveness.epoch(self.redis).id, images)
        # UTC, so the id says when the plan was made on every host (liveness.plan_created).
        plan = time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(3)
        meta = {**meta, "plan": plan, "created": time.time(), "ttl": self.ttl, **stamp}
        meta[KEYS_FIELD] = KEYS_MADE
        counters: dict[Any, Any] = dict.fromkeys(COUNTER_FIELDS, 0)
        counters.update(tags_total=images, rules_pending=rules_pending)
        pipe = self.redis.pipeline()
        pipe.set(keys.plan_meta(plan), json.dumps(meta), ex=self.ttl, nx=True)
        pipe.hset(keys.plan_counters(plan), mapping=counters)
        pipe.expire(keys.plan_counters(plan), self.ttl)
        # The working keys, made now with their expiry, so no step has to set it.
        for name in (keys.plan_once(plan), keys.blobs_landed(plan)):
            pipe.sadd(name, PLACEHOLDER)
            pipe.expire(name, self.ttl)
        for name in (keys.blob_claims(plan), keys.blobs_failed(plan)):
            pipe.hset(name, PLACEHOLDER, "")
            pipe.expire(name, self.ttl)
        # The index outlives its longest-lived plan's TTL (read here: EXPIRE GT needs Redis 7).
        index_ttl = max(int(self.redis.ttl(keys.plan_index())), self.ttl)
        pipe.zadd(keys.plan_index(), {plan: meta["created"]})
        pipe.zremrangebyrank(keys.plan_index(), 0, -(PLAN_INDEX_MAX + 1))
        pipe.expire(keys.plan_index(), index_ttl)
        pipe.execute()
        self._ttls[plan] = self.ttl
        return plan

    def ttl_for(self, plan: str) -> int:
        """The plan's own ``--ttl`` (read once from its metadata), else the default."""
        ttl = self._ttls.get(plan)
        if ttl is None:
            ttl = int(self.meta(plan).get("ttl") or self.ttl)
            self._ttls[plan] = ttl
        return ttl

    def made(self, plan: str) -> bool:
        """Whether the plan's working keys were made with it, with its TTL (a planner of now)."""
        return self.settings(plan).get(KEYS_FIELD) == KEYS_MADE

    def keep_due(self, plan: str) -> bool:
        """Whether this update should push back the expiry of every key of the plan.

        The counters' expiry moves with every update (``reconcile.idle`` reads
        it); the other keys' with the first update a process makes, then every
        :data:`PLAN_KEEP_EVERY` seconds (a tenth of the TTL, for a short one).
        A plan of an older planner, whose working keys are made by the steps
        without an expiry, has them all pushed back by every update, as it did.
        """
        if not self.made(plan):
            return True
        now = time.monotonic()
        last = self._kept.get(plan)
        if last is not None and now - last < min(PLAN_KEEP_EVERY, self.ttl_for(plan) / 10):
            return False
        if last is None and len(self._kept) >= PLAN_SETTINGS_KEPT:
            del self._kept[next(iter(self._kept))]
        self._kept[plan] = now
        return True

    def _keep_alive(self, pipe: Any, plan: str) -> None:
        """Push back the expiry of the plan's counters, and when due of its other keys."""
        ttl = self.ttl_for(plan)
        pipe.expire(keys.plan_counters(plan), ttl)
        if self.keep_due(plan):
            for key in (*keys.plan_keys(plan), *keys.plan_working_keys(plan)):
                pipe.expire(key, ttl)

    def exists(self, plan: str) -> bool:
        """Whether the plan is known (and not expired)."""
        return bool(self.redis.exists(keys.plan_meta(plan)))

    def meta(self, plan: str) -> dict[str, Any]:
        """The plan's metadata."""
        raw = self.redis.get(keys.plan_meta(plan))
        return cast(dict[str, Any], json.loads(raw)) if raw else {}

    def settings(self, plan: str) -> dict[str, Any]:
        """The plan's metadata as read once by this process: for the fields fixed at creation.

        ``force``, ``platforms`` and ``referrers`` never change after
        :meth:`create`; reading them once saves every tag a round trip.
        """
        known = self._settings.get(plan)
        if known is None:
            known = self.meta(plan)
            if known:  # an unknown plan is asked again: it may not be written yet
                self._remember(plan, known)
        return known

    def _remember(self, plan: str, meta: dict[str, Any]) -> None:
        if len(self._settings) >= PLAN_SETTINGS_KEPT:  # a long-lived worker sees many plans
            del self._settings[next(iter(self._settings))]
        self._settings[plan] = meta

    def update_meta(self, plan: str, **fields: Any) -> None:
        """Merge ``fields`` into the metadata of a plan Redis still has (never re-creating it)."""
        meta = self.meta(plan)
        if not meta:
            return
        meta.update(fields)
        self.redis.set(keys.plan_meta(plan), json.dumps(meta), ex=self.ttl_for(plan), xx=True)

    def once(self, plan: str, token: str) -> bool:
        """True the first time ``token`` is seen for ``plan``: guards counters on redelivery."""
        return self.once_all(plan, [token])[0]

    def once_all(self, plan: str, tokens: list[str]) -> list[bool]:
        """:meth:`once` for each of ``tokens``, in one round trip."""
        key = keys.plan_once(plan)
        pipe = self.redis.pipeline(transaction=False)
        for token in tokens:
            pipe.sadd(key, token)
        if not self.made(plan):  # an older planner's plan: the set is made here
            pipe.expire(key, self.ttl_for(plan))
        replies = pipe.execute()
        return [bool(first) for first in replies[: len(tokens)]]

    def bump(self, plan: str, **deltas: int) -> None:
        """Add to counters, e.g. ``bump(plan, tags_total=3)``."""
        key = keys.plan_counters(plan)
        pipe = self.redis.pipeline(transaction=False)
        for name, delta in deltas.items():
            if name not in COUNTER_FIELDS:
                raise KeyError(name)
            if delta:
                pipe.hincrby(key, name, delta)
        self._keep_alive(pipe, plan)
        pipe.execute()
        if deltas.keys() & _ENDING:
            self.note_end(plan)

    def reference(self, plan: str, registry: str, blobs: dict[str, int]) -> None:
        """Count blobs (digest -> size) into the byte total once per (registry, digest).

        As :meth:`syncer.engine.progress.Stats.reference`: the total is the distinct
        blobs the plan's images reference, however many repositories share one.
        """
        key = keys.plan_once(plan)
        pipe = self.redis.pipeline(transaction=False)
        for digest in blobs:
            pipe.sadd(key, keys.once_bytes(registry, digest))
        new = pipe.execute()
        total = sum(max(size, 0) for size, first in zip(blobs.values(), new, strict=True) if first)
        if total:
            self.bump(plan, bytes_total=total)

    def settle(self, plan: str, registry: str, digest: str, size: int, outcome: str) -> None:
        """A blob's first outcome in its registry, as :meth:`~syncer.engine.progress.Stats.settle`.

        (Same rule as the embedded counters.)
        """
        field = {"exists": "bytes_skipped", "mounted": "bytes_skipped"}.get(outcome)
        field = "bytes_failed" if outcome == "failed" else field
        if self.once(plan, keys.once_settled(registry, digest)) and field:
            self.bump(plan, **{field: max(size, 0)})

    def record(self, plan: str, result: ImageResult) -> None:
        """Store a final image result and count it."""
        key = keys.plan_results(plan)
        attr = {"synced": "done", "skipped": "skipped", "failed": "failed"}[result.status]
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(result.to_dict()))
        pipe.expire(key, self.ttl_for(plan))  # the list may be made here
        pipe.hincrby(keys.plan_counters(plan), f"tags_{attr}", 1)
        self._keep_alive(pipe, plan)
        # Read back in the same round trip, for note_end: the counters as they
        # stand after this result.
        pipe.hgetall(keys.plan_counters(plan))
        pipe.exists(keys.plan_cancelled(plan))
        *_, raw_counters, cancelled = pipe.execute()
        metrics.recorder().image(
            metrics.image_result(result.status, result.reason),
            metrics.failure_code(result.reason) if result.status == "failed" else "",
        )
        if _over(plan, raw_counters, cancelled):
            self._stop_clock(plan)

    def note_end(self, plan: str) -> None:
        """Stop the plan's clock if it has just finished: its elapsed time ends here.

        Called by the step that settles a tag; a reader that sees the plan over
        before any step did (an older worker) stops it in :meth:`status`.
        """
        if self.finished(plan):
            self._stop_clock(plan)

    def _stop_clock(self, plan: str) -> None:
        """Record the plan's end time, unless a step already did."""
        key = keys.plan_ended(plan)
        self.redis.set(key, repr(time.time()), nx=True, ex=self.ttl_for(plan))

    def cancel(self, plan: str) -> None:
        """Mark the plan cancelled; workers drop its tasks and stop its streams."""
        self.redis.set(keys.plan_cancelled(plan), "1", ex=self.ttl_for(plan))
        self.note_end(plan)

    def standing(self, plan: str) -> str:
        """``live``, ``cancelled``, ``ended`` or ``unknown`` (never planned here, or expired).

        One read, which also fills :meth:`settings` (a plan's fixed fields).
        ``ended`` is a plan whose every image is settled: a task of it is a
        redelivery, with nothing left to do.
        """
        raw_meta, cancelled, ended = self.redis.mget(
            [keys.plan_meta(plan), keys.plan_cancelled(plan), keys.plan_ended(plan)]
        )
        if not raw_meta:
            return "unknown"
        if plan not in self._settings:
            self._remember(plan, cast(dict[str, Any], json.loads(raw_meta)))
        if cancelled:
            return "cancelled"
        return "ended" if ended else "live"

    def cancelled(self, plan: str) -> bool:
        """Whether the plan was cancelled."""
        return bool(self.redis.exists(keys.plan_cancelled(plan)))

    def finished(self, plan: str) -> bool:
        """Whether the plan is over, from its counters alone (cheap enough to poll often)."""
        pipe = self.redis.pipeline()
        pipe.hgetall(keys.plan_counters(plan))
        pipe.exists(keys.plan_cancelled(plan))
        raw_counters, cancelled = pipe.execute()
        return _over(plan, raw_counters, cancelled)

    def status(self, plan: str, *, results: bool = True) -> PlanStatus:
        """A consistent snapshot of the plan; without ``results``, its counters only.

        A progress view redraws from the counters: reading every image's
        result twice a second cost ``plan --wait`` a tenth of a core on a
        5,000-image plan.
        """
        pipe = self.redis.pipeline()
        pipe.get(keys.plan_meta(plan))
        pipe.hgetall(keys.plan_counters(plan))
        pipe.exists(keys.plan_cancelled(plan))
        if results:
            pipe.lrange(keys.plan_results(plan), 0, -1)
        pipe.get(keys.plan_ended(plan))
        raw_meta, raw_counters, cancelled, *raw_results, ended = pipe.execute()
        counters = dict.fromkeys(COUNTER_FIELDS, 0)
        counters.update({text(k): int(v) for k, v in raw_counters.items()})
        listed = [ImageResult.from_dict(json.loads(r)) for r in (raw_results or [[]])[0]]
        meta = json.loads(raw_meta) if raw_meta else {}
        if raw_meta:
            lost = liveness.loss(meta, raw_counters)
        else:
            lost = liveness.why_missing(self.redis, plan) or liveness.RECORD_GONE
        status = PlanStatus(plan, meta, counters, bool(cancelled), listed, lost)
        if status.finished:
            if ended is None:
                # The first reader to see the plan finished freezes its clock.
                key = keys.plan_ended(plan)
                self.redis.set(key, repr(time.time()), nx=True, ex=self.ttl_for(plan))
                ended = self.redis.get(key)
            meta["ended"] = float(ended) if ended else time.time()
        return status


def _over(plan: str, raw_counters: dict[Any, Any], cancelled: object) -> bool:
    """Whether counters (as HGETALL returns them) and the cancel flag say the plan is over.

    Counters that are gone, or were made again by a late increment, say
    nothing: a plan Redis lost is not over.
    """
    read = {text(k): int(v) for k, v in raw_counters.items()}
    if "tags_total" not in read:
        return False
    counters = dict.fromkeys(COUNTER_FIELDS, 0)
    counters.update(read)
    return PlanStatus(plan, {}, counters, bool(cancelled), []).finished
