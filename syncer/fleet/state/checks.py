"""A verify plan's checks, and a fleet prune's candidates, in Redis.

Checks are the rows of ``plan --verify`` (:class:`~syncer.engine.verify.Check`
as JSON). A prune gathers every rule's decided candidates first
(:meth:`CheckStore.add_candidates` counts the rules down), so the last rule
can weigh the whole run against ``--prune-max`` before anything is deleted.
Every key expires with the plan's TTL, pushed back on each write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import redis

from syncer.engine.verify import Check
from syncer.fleet.protocol import keys


class CheckStore:
    """Reads and writes a plan's checks and prune candidates; the client is injected."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl

    def record(self, plan: str, checks: Iterable[Check]) -> None:
        """Append checks to the plan's rows."""
        rows = [json.dumps(c.to_dict()) for c in checks]
        if not rows:
            return
        pipe = self.redis.pipeline()
        pipe.rpush(keys.plan_checks(plan), *rows)
        pipe.expire(keys.plan_checks(plan), self.ttl)
        pipe.execute()

    def checks(self, plan: str) -> list[Check]:
        """Every recorded row."""
        raw = cast(list[bytes], self.redis.lrange(keys.plan_checks(plan), 0, -1))
        return [Check.from_dict(json.loads(r)) for r in raw]

    def expect_pruning(self, plan: str, rules: int) -> None:
        """Set how many rules will send prune candidates."""
        self.redis.set(keys.plan_pruning(plan), rules, ex=self.ttl)

    def add_candidates(self, plan: str, batch: dict[str, Any]) -> int:
        """Store one rule's candidates; return how many rules have yet to send theirs."""
        pipe = self.redis.pipeline()
        pipe.rpush(keys.plan_prune(plan), json.dumps(batch))
        pipe.expire(keys.plan_prune(plan), self.ttl)
        pipe.decr(keys.plan_pruning(plan))
        return int(pipe.execute()[2])

    def pruning(self, plan: str) -> int:
        """How many rules have yet to send their candidates (0 when none are expected)."""
        raw = self.redis.get(keys.plan_pruning(plan))
        return int(raw) if raw is not None else 0

    def candidates(self, plan: str) -> list[dict[str, Any]]:
        """Every rule's candidate batch, as sent."""
        raw = cast(list[bytes], self.redis.lrange(keys.plan_prune(plan), 0, -1))
        return [cast(dict[str, Any], json.loads(r)) for r in raw]

    def refuse(self, plan: str, why: str) -> None:
        """Record why the plan's prune deleted nothing."""
        self.redis.set(keys.plan_refused(plan), why, ex=self.ttl)

    def refused(self, plan: str) -> str:
        """Why the plan's prune deleted nothing, or ""."""
        raw = self.redis.get(keys.plan_refused(plan))
        return raw.decode() if isinstance(raw, bytes) else (raw or "")
