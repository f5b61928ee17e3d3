"""Which images wait for which blobs, and what to push when they have all landed.

This is the "counter in Redis" that joins blob tasks back to their images,
chosen over a Celery chord because one blob task must be able to complete
many images (a base layer shared by hundreds of tags), because chords on the
Redis result backend do not survive redelivery well, and because a set
removal is idempotent: a redelivered ``copy_blob`` cannot complete an image
twice. The last removal is detected atomically by a Lua script.

Race-freedom between "image registers as waiter" and "blob lands": the
waiter adds itself and then checks ``landed``; the blob adds to ``landed``
and then reads the waiters. Whichever runs second sees the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import redis

from syncer.defaults import PLAN_TTL
from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import text

# KEYS[1] = the image's pending set; ARGV[1] = blob key.
# Returns 1 only for the call that removed the last pending blob.
_LAST_REMOVAL = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 0 then
  return 1
end
return 0
"""

# KEYS[1] = the image's record hash, KEYS[2] = the plan's once-guard set;
# ARGV = the rule's token, the guard's TTL. One step, so two runs of the same
# push (a retry and the original requeued after a Redis restart) cannot both
# count it: 2 for the one that records the result (its rule counts with it),
# 1 for the first finisher of another rule, 0 for every other.
_SETTLE = """
local first = redis.call('HSETNX', KEYS[1], 'final', '1')
local new_rule = redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if first == 1 then
  return 2
end
return new_rule
"""
#: What :meth:`PlanImages.settle` tells its caller to do.
RECORD, COUNT_RULE, NOTHING = 2, 1, 0


class PlanImages:
    """Image records and blob waiters of one plan."""

    def __init__(self, client: redis.Redis, ttl: int | Callable[[str], int] = PLAN_TTL) -> None:
        self.redis = client
        #: Seconds to keep a plan's keys: fixed, or per plan id (``PlanStore.ttl_for``).
        self._ttl: Callable[[str], int] = ttl if callable(ttl) else (lambda plan: ttl)
        self._last_removal = client.register_script(_LAST_REMOVAL)
        self._settle = client.register_script(_SETTLE)

    def save_image(self, plan: str, image: str, record: dict[str, Any]) -> bool:
        """Store an image's push list once; False if it was already stored."""
        key = keys.image_record(plan, image)
        pipe = self.redis.pipeline()
        pipe.hsetnx(key, "record", json.dumps(record))
        pipe.expire(key, self._ttl(plan))
        return bool(pipe.execute()[0])

    def load_image(self, plan: str, image: str) -> dict[str, Any]:
        """The stored record of an image."""
        raw = self.redis.hget(keys.image_record(plan, image), "record")
        return cast(dict[str, Any], json.loads(raw)) if raw else {}

    def finish_once(self, plan: str, image: str) -> bool:
        """True for the single caller allowed to record the image's final result."""
        return bool(self.redis.hsetnx(keys.image_record(plan, image), "final", "1"))

    def settle(self, plan: str, image: str, guard_key: str, token: str) -> int:
        """:data:`RECORD`, :data:`COUNT_RULE` or :data:`NOTHING`, decided atomically.

        ``token`` names the rule that finished the image, in the set
        ``guard_key`` (:meth:`PlanStore.once`'s).
        """
        key = keys.image_record(plan, image)
        return int(self._settle(keys=[key, guard_key], args=[token, self._ttl(plan)]))

    def wait_for(self, plan: str, image: str, blobs: list[str]) -> list[str]:
        """Register ``image`` as waiting for ``blobs``; return those already landed."""
        pending = keys.image_pending(plan, image)
        pipe = self.redis.pipeline()
        pipe.sadd(pending, *blobs)
        pipe.expire(pending, self._ttl(plan))
        for blob in blobs:
            key = keys.blob_waiters(plan, blob)
            pipe.sadd(key, image)
            pipe.expire(key, self._ttl(plan))
        pipe.execute()
        flags = self.redis.smismember(keys.blobs_landed(plan), blobs)
        return [b for b, hit in zip(blobs, flags, strict=True) if hit]

    def claim_blob(self, plan: str, blob: str, owner: str = "") -> bool:
        """True for the one caller that should copy ``blob`` or enqueue its copy.

        A claim names its ``owner`` (the claiming task's id). The same task,
        redelivered or retried, gets its own claims back: it may have been
        stopped between claiming a blob and publishing its copy.
        """
        key = keys.blob_claims(plan)
        pipe = self.redis.pipeline()
        pipe.hsetnx(key, blob, owner or "-")
        pipe.hget(key, blob)
        pipe.expire(key, self._ttl(plan))
        created, holder, _ = pipe.execute()
        return bool(created) or (bool(owner) and text(holder) == owner)

    def release_claim(self, plan: str, blob: str) -> None:
        """Undo :meth:`claim_blob` when the copy could not be published."""
        self.redis.hdel(keys.blob_claims(plan), blob)

    def landed(self, plan: str, blobs: list[str]) -> set[str]:
        """Which of ``blobs`` have landed in this plan."""
        if not blobs:
            return set()
        flags = self.redis.smismember(keys.blobs_landed(plan), blobs)
        return {b for b, hit in zip(blobs, flags, strict=True) if hit}

    def land(self, plan: str, blob: str) -> list[str]:
        """Mark ``blob`` landed; return the waiting images."""
        key = keys.blobs_landed(plan)
        pipe = self.redis.pipeline()
        pipe.sadd(key, blob)
        pipe.expire(key, self._ttl(plan))
        pipe.execute()
        return self.waiters(plan, blob)

    def waiters(self, plan: str, blob: str) -> list[str]:
        """Images waiting for ``blob``."""
        members = self.redis.smembers(keys.blob_waiters(plan, blob))
        return sorted(text(m) for m in members)

    def remove_pending(self, plan: str, image: str, blob: str) -> bool:
        """Drop ``blob`` from the image's pending set; True if that was the last one."""
        pending = [keys.image_pending(plan, image)]
        return bool(self._last_removal(keys=pending, args=[blob]))

    def fail_blob(self, plan: str, blob: str, reason: str) -> None:
        """Remember that ``blob`` failed, so late waiters fail at once."""
        key = keys.blobs_failed(plan)
        pipe = self.redis.pipeline()
        pipe.hset(key, blob, reason)
        pipe.expire(key, self._ttl(plan))
        pipe.execute()

    def blob_failure(self, plan: str, blobs: list[str]) -> str:
        """The reason one of ``blobs`` failed, or ``""``."""
        if not blobs:
            return ""
        reasons = self.redis.hmget(keys.blobs_failed(plan), blobs)
        for reason in reasons:
            if reason:
                return text(reason)
        return ""
