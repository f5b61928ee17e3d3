"""A plan's counting steps, each one atomic: finish an image, or count something once.

A worker can die between any two Redis calls (``kill -9``, an OOM kill). When
an image's ``final`` flag, its result and its count were three calls, a worker
that died between them left the image final but uncounted: its redelivered
task found it final and did nothing, and ``plan --wait`` waited forever on an
image that had finished. The same gap sat between a once-token and the counter
it guards. Each step here is one Lua script: Redis applies all of it or none
(the AOF and replicas see it as one MULTI/EXEC), in one round trip.

Both scripts write nothing when the plan's record is gone (a Redis that
restarted empty, a FLUSHDB, an eviction): a late task must not rebuild half a
plan out of counters and results, which a follower could take for the real
one. They return :data:`GONE` then, and the caller drops its result.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence

import redis

from syncer import metrics
from syncer.engine.jobs import ImageResult
from syncer.fleet.protocol import keys
from syncer.fleet.state.plans import COUNTER_FIELDS

log = logging.getLogger(__name__)

#: What :meth:`Ledger.finish` did: recorded the result, counted another rule, nothing.
RECORD, COUNT_RULE, NOTHING = 2, 1, 0
#: The plan's record is gone: nothing was written.
GONE = -1

# KEYS: 1 meta, 2 once-tokens, 3 counters, 4 results, 5 ended, 6 cancelled.
# ARGV: 1 ttl, 2 now. Every update pushes back the expiry of the plan's keys
# (its TTL counts from the last update), and the update that ends the plan
# stops its clock.
_PRELUDE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local function keep(ending)
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
  if not ending then return end
  local c = redis.call('HMGET', KEYS[3], 'tags_total', 'tags_done', 'tags_skipped',
    'tags_failed', 'rules_pending')
  local n = {}
  for i = 1, 5 do n[i] = tonumber(c[i]) or 0 end
  if redis.call('EXISTS', KEYS[6]) == 1 or (n[5] <= 0 and n[2] + n[3] + n[4] >= n[1]) then
    redis.call('SET', KEYS[5], ARGV[2], 'NX', 'EX', ARGV[1])
  end
end
"""

# KEYS[7] = the image's record; ARGV: 3 the rule's once-token, 4 the counter of
# the result's status, 5 the result's JSON. The first finisher sets ``final``
# (to when, for reconcile), records the result and counts it; the first
# finisher of another rule naming the image counts that rule's image as
# skipped; everyone else (a redelivery, a retry beside its requeued original)
# changes nothing.
_FINISH = (
    _PRELUDE
    + """
local outcome = 0
if redis.call('HSETNX', KEYS[7], 'final', ARGV[2]) == 1 then
  redis.call('EXPIRE', KEYS[7], ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('RPUSH', KEYS[4], ARGV[5])
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
  outcome = 2
elseif redis.call('SADD', KEYS[2], ARGV[3]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'tags_skipped', 1)
  outcome = 1
else
  return 0
end
keep(true)
return outcome
"""
)

# ARGV: 3 the once-token ('' counts unguarded), 4 '1' when the counts may end
# the plan, 5 how many (field, delta) pairs follow, then the pairs, then the
# JSON of results to record.
_COUNT_ONCE = (
    _PRELUDE
    + """
if ARGV[3] ~= '' and redis.call('SADD', KEYS[2], ARGV[3]) == 0 then return 0 end
local pairs = tonumber(ARGV[5])
for i = 0, pairs - 1 do
  local delta = tonumber(ARGV[7 + 2 * i])
  if delta ~= 0 then redis.call('HINCRBY', KEYS[3], ARGV[6 + 2 * i], delta) end
end
for i = 6 + 2 * pairs, #ARGV do redis.call('RPUSH', KEYS[4], ARGV[i]) end
keep(ARGV[4] == '1')
return 1
"""
)

#: Counters whose change may end a plan.
_ENDING = frozenset({"tags_done", "tags_skipped", "tags_failed", "rules_pending"})
_STATUS_COUNTER = {"synced": "tags_done", "skipped": "tags_skipped", "failed": "tags_failed"}


class Ledger:
    """The atomic counting steps on one Redis; ``ttl`` gives a plan's TTL (``ttl_for``)."""

    def __init__(self, client: redis.Redis, ttl: Callable[[str], int]) -> None:
        self.redis = client
        self._ttl = ttl
        self._finish = client.register_script(_FINISH)
        self._count_once = client.register_script(_COUNT_ONCE)

    def _plan_keys(self, plan: str) -> list[str]:
        return [
            keys.plan_meta(plan),
            keys.plan_once(plan),
            keys.plan_counters(plan),
            keys.plan_results(plan),
            keys.plan_ended(plan),
            keys.plan_cancelled(plan),
        ]

    def finish(self, plan: str, image: str, token: str, result: ImageResult) -> int:
        """Settle an image for the rule ``token`` names, in one step; :data:`RECORD`, ...."""
        outcome = int(
            self._finish(
                keys=[*self._plan_keys(plan), keys.image_record(plan, image)],
                args=[
                    self._ttl(plan),
                    repr(time.time()),
                    token,
                    _STATUS_COUNTER[result.status],
                    json.dumps(result.to_dict()),
                ],
            )
        )
        if outcome == RECORD:
            _count_metric(result)
        return outcome

    def count_once(
        self, plan: str, token: str, results: Sequence[ImageResult] = (), **deltas: int
    ) -> int:
        """Add ``deltas`` to the counters and record (and count) ``results``, once per ``token``.

        An empty ``token`` counts every time. Returns 1 when it counted, 0 when
        the token was seen before, :data:`GONE` when the plan's record is gone.
        """
        unknown = deltas.keys() - set(COUNTER_FIELDS)
        if unknown:
            raise KeyError(sorted(unknown)[0])
        for result in results:
            field = _STATUS_COUNTER[result.status]
            deltas[field] = deltas.get(field, 0) + 1
        pairs = [str(x) for name, delta in deltas.items() for x in (name, delta)]
        ending = bool(results) or bool(deltas.keys() & _ENDING)
        done = int(
            self._count_once(
                keys=self._plan_keys(plan),
                args=[
                    self._ttl(plan),
                    repr(time.time()),
                    token,
                    "1" if ending else "0",
                    len(deltas),
                    *pairs,
                    *(json.dumps(r.to_dict()) for r in results),
                ],
            )
        )
        if done == GONE:
            log.warning("plan %s is gone from Redis: its counts were not written", plan)
        elif done:
            for result in results:
                _count_metric(result)
        return done


def _count_metric(result: ImageResult) -> None:
    metrics.recorder().image(
        metrics.image_result(result.status, result.reason),
        metrics.failure_code(result.reason) if result.status == "failed" else "",
    )
