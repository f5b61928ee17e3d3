"""One backoff: waits that double from a first delay up to a cap, with equal jitter where asked.

Every loop that waits longer after each failure takes its waits from a
:class:`Backoff`: retries of a registry request (:mod:`syncer.registry.retry`,
and through it Celery's retry countdowns), a fleet process riding out a Redis
outage, an in-flight lock released again, a busy blob looked at again, a
crashed worker restarted. Each loop keeps its own bounds, named beside it.

Jitter, where a loop asks for it, is *equal jitter*: each wait is drawn from
the upper half of its ceiling, ``uniform(c/2, c)``, not from ``uniform(0, c)``
(*full jitter*). Full jitter spreads clients further apart, but any of its
waits may be close to nothing: a registry that answered 503 because it is
struggling would get the next request at once, and an image's
``REQUEST_ATTEMPTS`` could all be spent in a moment, using almost none of the
wait budget (:mod:`syncer.registry.waiting`) that exists to let a registry
recover. With equal jitter every wait is at least half its ceiling (at
retry.py's bounds, the four waits of five attempts take 3.75 s to 7.5 s in
all), so the least a struggling
registry is spared and the share of the budget retries take are both known,
and concurrent clients still drift apart.

The fleet's own loops wait without jitter, at the pace they always had: each
is one process waiting on its own (a Redis that is down, a lock, a child
process), not many clients sending the same server the same request.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

#: Doublings past which any ceiling is the cap: 2**64 times the smallest first
#: delay used passes every cap, and a larger power would overflow a float.
_MOST_DOUBLINGS = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits of ``first`` seconds, doubling per try up to ``cap``; with ``jitter``, equal jitter."""

    first: float
    cap: float
    jitter: bool = False

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed try number ``attempt`` (1-based): no jitter."""
        doublings = min(max(attempt - 1, 0), _MOST_DOUBLINGS)
        return min(self.cap, self.first * 2.0**doublings)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        ceiling = self.ceiling(attempt)
        return random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling

    def delays(self) -> Iterator[float]:
        """The wait after each failed try in turn, without end."""
        attempt = 1
        while True:
            yield self.delay(attempt)
            attempt += 1
