"""A plan's counting steps, each one atomic: finish images, or count something once.

A worker can die between any two Redis calls (``kill -9``, an OOM kill). When
an image's ``final`` flag, its result and its count were three calls, a worker
that died between them left the image final but uncounted: its redelivered
task found it final and did nothing, and ``plan --wait`` waited forever on an
image that had finished. The same gap sat between a once-token and the counter
it guards. Each step here is one Lua script: Redis applies all of it or none
(the AOF and replicas see it as one MULTI/EXEC), in one round trip.

Every script writes nothing when the plan's record is gone (a Redis that
restarted empty, a FLUSHDB, an eviction): a late task must not rebuild half a
plan out of counters and results, which a follower could take for the real
one. They return :data:`GONE` then, and the caller drops its result. Nor do
they count anything once the plan has ended (unless it was cancelled): every
image is settled then, and what comes later is a redelivery.

What a step costs Redis (issue #23): the counters' expiry is pushed back by
every step (``reconcile.idle`` reads how long a plan stood still off it); the
other keys of the plan got theirs when they were made, and every step a
worker process takes for a plan pushes them back too only every
:data:`~syncer.defaults.PLAN_KEEP_EVERY` seconds (``PlanStore.keep_due``),
and the step that ends the plan does it once more. The step that ends a plan
also drops its working state, which nothing reads once every image is
settled (:func:`sweep`): the once-tokens, blob claims, landed and failed
blobs, the image records and the blob waiters. The record, the counters and
the results stay for the plan's ``--ttl``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from syncer import metrics
from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import best_effort, text
from syncer.fleet.state.plans import COUNTER_FIELDS

log = logging.getLogger(__name__)

#: What :meth:`Ledger.finish` did: recorded the result, counted another rule, nothing.
RECORD, COUNT_RULE, NOTHING = 2, 1, 0
#: The plan's record is gone: nothing was written.
GONE = -1
#: The plan has ended (not cancelled): nothing was written (a script's own reply).
OVER = -2

# KEYS: 1 meta, 2 once-tokens, 3 counters, 4 results, 5 ended, 6 cancelled,
# 7 claims, 8 landed, 9 failed blobs. ARGV: 1 ttl, 2 now, 3 '1' to push back
# every key's expiry. A step of a plan whose record is gone returns {-1}; of a
# plan that ended (not cancelled), {-2}, with nothing written. keep(ending) pushes
# back the counters' expiry (and every key's with ARGV[3]); with ``ending``,
# the step that finds the plan over stops its clock and drops the working
# state, and keep returns 1 for the caller to sweep the per-image keys.
_PRELUDE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if redis.call('EXISTS', KEYS[5]) == 1 and redis.call('EXISTS', KEYS[6]) == 0 then
  return {-2}
end
local function keep(ending)
  redis.call('EXPIRE', KEYS[3], ARGV[1])
  if ARGV[3] == '1' then
    for _, i in ipairs({1, 2, 4, 7, 8, 9}) do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
  end
  if not ending then return 0 end
  local c = redis.call('HMGET', KEYS[3], 'tags_total', 'tags_done', 'tags_skipped',
    'tags_failed', 'rules_pending')
  local n = {}
  for i = 1, 5 do n[i] = tonumber(c[i]) or 0 end
  local cancelled = redis.call('EXISTS', KEYS[6]) == 1
  if not cancelled and not (n[5] <= 0 and n[2] + n[3] + n[4] >= n[1]) then return 0 end
  if not redis.call('SET', KEYS[5], ARGV[2], 'NX', 'EX', ARGV[1]) or cancelled then return 0 end
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[4], ARGV[1])
  redis.call('UNLINK', KEYS[2], KEYS[7], KEYS[8], KEYS[9])
  return 1
end
local function results(list)
  if #list == 0 then return end
  if redis.call('RPUSH', KEYS[4], unpack(list)) == #list then
    redis.call('EXPIRE', KEYS[4], ARGV[1])
  end
end
local function count(deltas)
  for field, delta in pairs(deltas) do
    if delta ~= 0 then redis.call('HINCRBY', KEYS[3], field, delta) end
  end
end
"""

# KEYS[9 + i] = image i's record; ARGV[4] = how many images, then for each:
# its rule's once-token, the counter of its result's status, the result's
# JSON, '1' when it has a push record to drop. Each image as one finish: the
# first finisher sets ``final`` (to when, for reconcile), records the result
# and counts it, and drops the push record nothing reads any more; the first
# finisher of another rule naming the image counts that rule's image as
# skipped; everyone else (a redelivery, a retry beside its requeued original)
# changes nothing. One SMISMEMBER reads every token, one SADD writes the new
# ones, one RPUSH the results. Returns {ended, outcome of each image}.
_FINISH = (
    _PRELUDE
    + """
local n = tonumber(ARGV[4])
local tokens = {}
for i = 1, n do tokens[i] = ARGV[1 + 4 * i] end
local seen = redis.call('SMISMEMBER', KEYS[2], unpack(tokens))
local added, taken, listed, deltas, out = {}, {}, {}, {}, {}
for i = 1, n do
  local token, field, rec = tokens[i], ARGV[2 + 4 * i], KEYS[9 + i]
  local new = seen[i] == 0 and not taken[token]
  out[i] = 0
  if redis.call('HSETNX', rec, 'final', ARGV[2]) == 1 then
    redis.call('EXPIRE', rec, ARGV[1])
    if ARGV[4 + 4 * i] == '1' then redis.call('HDEL', rec, 'record', 'pusher') end
    listed[#listed + 1] = ARGV[3 + 4 * i]
    deltas[field] = (deltas[field] or 0) + 1
    out[i] = 2
  elseif new then
    deltas['tags_skipped'] = (deltas['tags_skipped'] or 0) + 1
    out[i] = 1
  end
  if new and out[i] > 0 then
    added[#added + 1] = token
    taken[token] = true
  end
end
if #added > 0 then redis.call('SADD', KEYS[2], unpack(added)) end
results(listed)
count(deltas)
local ended = 0
if #added > 0 or #listed > 0 then ended = keep(true) end
return {ended, unpack(out)}
"""
)

# ARGV: 4 the once-token ('' counts unguarded), 5 '1' when the counts may
# end the plan, 6 how many (field, delta) pairs follow, then the pairs, then
# the JSON of results to record. Returns {ended, 1}, or {0, 0} for a token
# seen before.
_COUNT_ONCE = (
    _PRELUDE
    + """
if ARGV[4] ~= '' and redis.call('SADD', KEYS[2], ARGV[4]) == 0 then return {0, 0} end
local pairs_ = tonumber(ARGV[6])
local deltas = {}
for i = 0, pairs_ - 1 do deltas[ARGV[7 + 2 * i]] = tonumber(ARGV[8 + 2 * i]) end
count(deltas)
local listed = {}
for i = 7 + 2 * pairs_, #ARGV do listed[#listed + 1] = ARGV[i] end
results(listed)
return {keep(ARGV[5] == '1'), 1}
"""
)

# ARGV: 4 how many once-tokens, then for each: the token and its (field,
# delta) pairs as "field=delta,field=delta"; then unguarded pairs the same
# way. Each token new to the plan adds its deltas, in one read (SMISMEMBER)
# and one write (SADD) of the tokens. Never ends a plan (no tag counter
# moves). Returns {0, how many tokens were new}.
_COUNT_EACH = (
    _PRELUDE
    + """
local n = tonumber(ARGV[4])
local tokens = {}
for i = 1, n do tokens[i] = ARGV[3 + 2 * i] end
local seen = {}
if n > 0 then seen = redis.call('SMISMEMBER', KEYS[2], unpack(tokens)) end
local added, taken, deltas = {}, {}, {}
local function add(spec)
  for field, delta in string.gmatch(spec, '([%w_]+)=(-?%d+)') do
    deltas[field] = (deltas[field] or 0) + tonumber(delta)
  end
end
for i = 1, n do
  if seen[i] == 0 and not taken[tokens[i]] then
    taken[tokens[i]] = true
    added[#added + 1] = tokens[i]
    add(ARGV[4 + 2 * i])
  end
end
add(ARGV[5 + 2 * n])
if #added > 0 then redis.call('SADD', KEYS[2], unpack(added)) end
count(deltas)
keep(false)
return {0, #added}
"""
)

#: Counters whose change may end a plan.
_ENDING = frozenset({"tags_done", "tags_skipped", "tags_failed", "rules_pending"})
_STATUS_COUNTER = {"synced": "tags_done", "skipped": "tags_skipped", "failed": "tags_failed"}


@dataclass(frozen=True, slots=True)
class Finish:
    """One image to settle: its id, its rule's once-token, its result; whether it has a record."""

    image: str
    token: str
    result: ImageResult
    #: A push record was stored for it (``sync_tags``' skipped images have none).
    stored: bool = True


def plan_keys(plan: str) -> list[str]:
    """KEYS[1..9] of every script here (and of ``PlanImages``' scripts that count)."""
    return [
        keys.plan_meta(plan),
        keys.plan_once(plan),
        keys.plan_counters(plan),
        keys.plan_results(plan),
        keys.plan_ended(plan),
        keys.plan_cancelled(plan),
        keys.blob_claims(plan),
        keys.blobs_landed(plan),
        keys.blobs_failed(plan),
    ]


#: The per-image and per-blob working keys a sweep drops (``keys.image_record``,
#: ``image_pending``, ``blob_waiters``); every other key of the plan stays for its TTL
#: (its record and report, and what verify, prune and referrers keep).
_SWEPT = ("image:", "pending:", "waiters:")


def sweep(client: redis.Redis, plan: str) -> int:
    """Drop what remains of an ended plan's working state: image records, pending sets, waiters.

    The step that ended the plan dropped the plan-wide working keys; these
    are one key per image or blob, found by a scan. Best effort: a key missed
    here expires with the plan's TTL. Returns how many keys were dropped.
    """
    prefix = keys.plan_meta(plan)[: -len("meta")]
    pattern = prefix.translate(_GLOB) + "*"
    dropped = 0
    with best_effort("what a sweep misses expires with the plan's TTL") as attempt:
        batch: list[str] = []
        for name in client.scan_iter(match=pattern, count=1000):
            key = text(name)
            if key[len(prefix) :].startswith(_SWEPT):
                batch.append(key)
            if len(batch) >= 500:
                dropped += int(client.unlink(*batch))
                batch = []
        if batch:
            dropped += int(client.unlink(*batch))
    if attempt.failed:
        log.warning("plan %s: working state not swept (%s)", plan, attempt.error)
    return dropped


_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


class Ledger:
    """The atomic counting steps on one Redis.

    ``ttl`` gives a plan's TTL (``PlanStore.ttl_for``), and ``keep_due``
    whether this step should push back the expiry of all the plan's keys
    (``PlanStore.keep_due``; every step, without one).
    """

    def __init__(
        self,
        client: redis.Redis,
        ttl: Callable[[str], int],
        keep_due: Callable[[str], bool] | None = None,
    ) -> None:
        self.redis = client
        self._ttl = ttl
        self._keep_due = keep_due or (lambda plan: True)
        self._finish = client.register_script(_FINISH)
        self._count_once = client.register_script(_COUNT_ONCE)
        self._count_each = client.register_script(_COUNT_EACH)

    def prelude_args(self, plan: str) -> list[Any]:
        """ARGV[1..3] of every script here: the TTL, now, and whether to push back every expiry."""
        return [self._ttl(plan), repr(time.time()), "1" if self._keep_due(plan) else "0"]

    def finish(self, plan: str, image: str, token: str, result: ImageResult) -> int:
        """Settle an image for the rule ``token`` names, in one step; :data:`RECORD`, ...."""
        return self.finish_many(plan, [Finish(image, token, result)])[0]

    def finish_many(self, plan: str, items: Sequence[Finish]) -> list[int]:
        """:meth:`finish` for each of ``items``, in one step: their outcomes, in order."""
        if not items:
            return []
        args = [*self.prelude_args(plan), len(items)]
        for item in items:
            args += [
                item.token,
                _STATUS_COUNTER[item.result.status],
                result_json(item.result),
                "1" if item.stored else "0",
            ]
        reply = self._finish(
            keys=[*plan_keys(plan), *(keys.image_record(plan, i.image) for i in items)],
            args=args,
        )
        ended = int(reply[0])
        if ended in (GONE, OVER):
            return [GONE if ended == GONE else NOTHING] * len(items)
        outcomes = [int(x) for x in reply[1:]]
        for item, outcome in zip(items, outcomes, strict=True):
            if outcome == RECORD:
                _count_metric(item.result)
        self._ended(plan, ended)
        return outcomes

    def count_once(
        self, plan: str, token: str, results: Sequence[ImageResult] = (), **deltas: int
    ) -> int:
        """Add ``deltas`` to the counters and record (and count) ``results``, once per ``token``.

        An empty ``token`` counts every time. Returns 1 when it counted, 0
        when the token was seen before (or the plan has ended),
        :data:`GONE` when the plan's record is gone.
        """
        unknown = deltas.keys() - set(COUNTER_FIELDS)
        if unknown:
            raise KeyError(sorted(unknown)[0])
        for result in results:
            field = _STATUS_COUNTER[result.status]
            deltas[field] = deltas.get(field, 0) + 1
        pairs = [str(x) for name, delta in deltas.items() for x in (name, delta)]
        ending = bool(results) or bool(deltas.keys() & _ENDING)
        reply = self._count_once(
            keys=plan_keys(plan),
            args=[
                *self.prelude_args(plan),
                token,
                "1" if ending else "0",
                len(deltas),
                *pairs,
                *(result_json(r) for r in results),
            ],
        )
        head = int(reply[0])
        if head == GONE:
            log.warning("plan %s is gone from Redis: its counts were not written", plan)
            return GONE
        if head == OVER:
            return 0
        done = int(reply[1])
        if done:
            for result in results:
                _count_metric(result)
        self._ended(plan, head)
        return done

    def count_each(self, plan: str, tokens: Mapping[str, Mapping[str, int]], **deltas: int) -> int:
        """Count each once-token's deltas once per plan, and ``deltas`` every time, in one step.

        For the counters that never end a plan (blobs and bytes): how many
        tokens were new, 0 when the plan has ended, :data:`GONE` when it is gone.
        """
        fields = {f for each in tokens.values() for f in each} | deltas.keys()
        unknown = fields - set(COUNTER_FIELDS)
        if unknown or fields & _ENDING:
            raise KeyError(sorted(unknown or fields & _ENDING)[0])
        if not tokens and not any(deltas.values()):
            return 0
        args: list[Any] = [*self.prelude_args(plan), len(tokens)]
        for token, each in tokens.items():
            args += [token, _spec(each)]
        args.append(_spec(deltas))
        head, *rest = (int(x) for x in self._count_each(keys=plan_keys(plan), args=args))
        if head in (GONE, OVER):
            return GONE if head == GONE else 0
        return rest[0]

    def _ended(self, plan: str, ended: int) -> None:
        """After the step that ended ``plan``: sweep its per-image keys."""
        if ended == 1:
            log.info("plan %s finished: %d working keys dropped", plan, sweep(self.redis, plan))


def result_json(result: ImageResult) -> str:
    """A result as the plan keeps it: compact, fields at their default left out.

    ``ImageResult.from_dict`` fills them in again (every release's does): a
    plan keeps one of these per image, so its bytes are most of what a plan
    over costs Redis.
    """
    defaults = ImageResult("", "", "synced")
    body = {k: v for k, v in result.to_dict().items() if k in _ALWAYS or v != getattr(defaults, k)}
    return json.dumps(body, separators=(",", ":"))


_ALWAYS = frozenset({"source", "dest", "status"})


def _spec(deltas: Mapping[str, int]) -> str:
    """``field=delta,...`` of the non-zero deltas, as ``_COUNT_EACH`` reads them."""
    return ",".join(f"{field}={int(delta)}" for field, delta in deltas.items() if delta)


def _count_metric(result: ImageResult) -> None:
    metrics.recorder().image(
        metrics.image_result(result.status, result.reason),
        metrics.failure_code(result.reason) if result.status == "failed" else "",
    )
