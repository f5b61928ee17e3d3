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

# KEYS[1] = the image's pending set, KEYS[2] = its record; ARGV[1] = blob
# key, ARGV[2] = the calling task's id. 1 for the call that removed the last
# pending blob, which names its task in the record ('pusher'); 1 again for
# that same task, redelivered, while the image is not final: it may have died
# between the removal and publishing the push (a second push of one image
# changes nothing). 0 for everyone else, the other side of a race included.
_LAST_REMOVAL = """
local removed = redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) ~= 0 then return 0 end
if removed == 1 then
  if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'pusher', ARGV[2])
  end
  return 1
end
if ARGV[2] == '' or redis.call('HEXISTS', KEYS[2], 'final') == 1 then return 0 end
if redis.call('HGET', KEYS[2], 'pusher') == ARGV[2] then return 1 end
return 0
"""


# The same for several images: KEYS = each image's pending set then its record,
# in pairs; ARGV = blob key, owner. Returns each image's answer, in order.
_LAST_REMOVALS = (
    "local out = {}\n"
    "for i = 1, #KEYS, 2 do\n"
    "  out[#out + 1] = (function(KEYS)\n" + _LAST_REMOVAL + "  end)({KEYS[i], KEYS[i + 1]})\n"
    "end\n"
    "return out\n"
)

# KEYS[1] = the claims hash; ARGV = owner ('-' for none), then blob keys. A
# claim is new, or already this owner's: 1; another's: 0. One read of the
# holder only for a claim that was there.
_CLAIM = """
local out = {}
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1]) == 1 then
    out[#out + 1] = 1
  elseif ARGV[1] ~= '-' and redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""


class PlanImages:
    """Image records and blob waiters of one plan."""

    def __init__(
        self,
        client: redis.Redis,
        ttl: int | Callable[[str], int] = PLAN_TTL,
        made: Callable[[str], bool] | None = None,
    ) -> None:
        self.redis = client
        #: Seconds to keep a plan's keys: fixed, or per plan id (``PlanStore.ttl_for``).
        self._ttl: Callable[[str], int] = ttl if callable(ttl) else (lambda plan: ttl)
        #: Whether a plan's claims, landed and failed blobs were made with it, with
        #: their expiry (``PlanStore.made``): then writing to them needs no EXPIRE.
        self._made = made or (lambda plan: False)
        self._last_removal = client.register_script(_LAST_REMOVAL)
        self._last_removals = client.register_script(_LAST_REMOVALS)
        self._claim = client.register_script(_CLAIM)

    def save_image(self, plan: str, image: str, record: dict[str, Any]) -> bool:
        """Store an image's push list once; False if it was already stored."""
        key = keys.image_record(plan, image)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(key, "record", json.dumps(record))
        pipe.expire(key, self._ttl(plan))
        return bool(pipe.execute()[0])

    def load_image(self, plan: str, image: str) -> dict[str, Any]:
        """The stored record of an image."""
        raw = self.redis.hget(keys.image_record(plan, image), "record")
        return cast(dict[str, Any], json.loads(raw)) if raw else {}

    def wait_for(self, plan: str, image: str, blobs: list[str]) -> list[str]:
        """Register ``image`` as waiting for ``blobs``; return those already landed."""
        pending = keys.image_pending(plan, image)
        # One transaction: a worker killed mid-registration leaves all of it or none.
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
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(key, blob, owner or "-")
        pipe.hget(key, blob)
        if not self._made(plan):
            pipe.expire(key, self._ttl(plan))
        created, holder = pipe.execute()[:2]
        return bool(created) or (bool(owner) and text(holder) == owner)

    def claim_blobs(self, plan: str, blobs: list[str], owner: str = "") -> list[bool]:
        """:meth:`claim_blob` for each of ``blobs``, in one step."""
        if not blobs:
            return []
        key = keys.blob_claims(plan)
        got = self._claim(keys=[key], args=[owner or "-", *blobs])
        if not self._made(plan):
            self.redis.expire(key, self._ttl(plan))
        return [bool(x) for x in got]

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
        if self._made(plan):
            self.redis.sadd(key, blob)
        else:
            pipe = self.redis.pipeline()
            pipe.sadd(key, blob)
            pipe.expire(key, self._ttl(plan))
            pipe.execute()
        return self.waiters(plan, blob)

    def waiters(self, plan: str, blob: str) -> list[str]:
        """Images waiting for ``blob``."""
        members = self.redis.smembers(keys.blob_waiters(plan, blob))
        return sorted(text(m) for m in members)

    def remove_pending(self, plan: str, image: str, blob: str, owner: str = "") -> bool:
        """Drop ``blob`` from the image's pending set; True if the caller should push the image.

        True for the call that removed the last pending blob, and again for
        the same task (``owner``) redelivered, until the image is final.
        """
        names = [keys.image_pending(plan, image), keys.image_record(plan, image)]
        return bool(self._last_removal(keys=names, args=[blob, owner]))

    def remove_pending_all(
        self, plan: str, images: list[str], blob: str, owner: str = ""
    ) -> list[str]:
        """:meth:`remove_pending` for each of ``images``, in one step: those to push."""
        if not images:
            return []
        names = [
            k for i in images for k in (keys.image_pending(plan, i), keys.image_record(plan, i))
        ]
        answers = self._last_removals(keys=names, args=[blob, owner])
        return [image for image, push in zip(images, answers, strict=True) if push]

    def fail_blob(self, plan: str, blob: str, reason: str) -> None:
        """Remember that ``blob`` failed, so late waiters fail at once."""
        key = keys.blobs_failed(plan)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, blob, reason)
        if not self._made(plan):
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
