"""Which workers' network links carry a large blob, shared by the fleet in Redis.

A worker streaming a large blob hands its small copies to a peer whose link
is idle (see :mod:`workers.links`, which decides). Here is only what the
fleet shares for that: who is alive, and whose link is busy. It is advice
for scheduling, so every call is best effort: a copy never fails over it.
"""

from __future__ import annotations

import random
import time
from typing import cast

import redis

from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import best_effort, text

#: A worker whose link said it was alive longer ago than this is not an idle
#: peer to hand copies to. It says so per task (at most every ALIVE_EVERY), so
#: this is "ran a task lately", not the roster's ALIVE_WINDOW ("process is up"):
#: a worker idle at an empty queue is up but not a peer worth waiting on.
PEER_ALIVE_WINDOW = 30.0


_WHY = "link state is advice for scheduling"


class Links:
    """The fleet's view of its workers' links; the client is injected."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def announce(self, node: str, large: bool) -> None:
        """Say ``node`` is alive, and with ``large`` that its link carries a large blob."""
        with best_effort(_WHY):
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(keys.links_alive(), {node: time.time()})
            if large:
                pipe.zadd(keys.links_busy(), {node: time.time()})
            pipe.execute()

    def free(self, node: str) -> None:
        """Say ``node``'s link carries no large blob any more."""
        with best_effort(_WHY):
            self.client.zrem(keys.links_busy(), node)

    def idle_peer(self, me: str) -> str | None:
        """A live worker other than ``me`` whose link carries no large blob, if any."""
        with best_effort(_WHY):
            # Members only (no scores asked for): bytes, or str with decode_responses.
            alive = cast(
                list[bytes | str],
                self.client.zrangebyscore(
                    keys.links_alive(), time.time() - PEER_ALIVE_WINDOW, "+inf"
                ),
            )
            busy = set(self.client.zrange(keys.links_busy(), 0, -1))
            peers = [text(n) for n in alive if n not in busy and text(n) != me]
            return random.choice(peers) if peers else None
        return None
