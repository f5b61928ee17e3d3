"""``syncer plan [--wait]``: submit a plan, follow it, and submit it again when Redis lost it.

The planner holds the rules it planned. When Redis loses the plan (restarted
without persistence, flushed, evicted, failed over; see
``fleet/state/liveness.py``), ``--wait`` submits the same rules again as a new plan
and follows that: every step is idempotent, so images already at the
destination cost a HEAD and are counted unchanged. One line says so. After
``PLAN_LOSSES_MAX`` losses it stops, naming the last one, with ``EXIT_LOST``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from syncer.cli.exits import EXIT_LOST
from syncer.cli.planview import PlanLost, PlanStuck, Reconnect, follow_plan, print_lost

if TYPE_CHECKING:
    import redis

    from syncer.config.files import SyncConfig
    from syncer.engine.options import SyncOptions
    from syncer.fleet.state.plans import PlanStore
    from syncer.fleet.steps.context import Dispatcher


#: ``plan --wait`` re-submits a plan Redis lost, and gives up after this many losses.
PLAN_LOSSES_MAX = 3


class Submitter:
    """Submits one config as a plan, as often as it is lost; through Redis outages."""

    def __init__(
        self,
        client: redis.Redis,
        config: SyncConfig,
        options: SyncOptions,
        *,
        dispatcher: Dispatcher,
        where: str,
        source: str,
        ttl: int,
        meta: Mapping[str, Any],
        prune: int | None = None,
    ) -> None:
        self._client, self._config, self._options = client, config, options
        #: Also what ``plan --wait`` sends a stalled plan's copies again through.
        self.dispatcher = dispatcher
        self._source, self._ttl, self._meta = source, ttl, dict(meta)
        #: ``--prune-max`` with ``--prune`` (each submission prunes), else None.
        self._prune = prune
        self.link = Reconnect(where, sys.stderr)
        #: The id of the plan submitted last (a lost plan's successor, after one).
        self.last = ""

    def submit(self, **extra: Any) -> str:
        """Plan the config once more; its id."""
        from syncer.fleet import planner

        self.last = self.link.call(
            lambda: planner.submit(
                self._config,
                self._options,
                self._client,
                self.dispatcher,
                source=self._source,
                ttl=self._ttl,
                meta={**self._meta, **extra},
                prune=self._prune,
            )
        )
        return self.last


def wait(store: PlanStore, submitter: Submitter, plan: str, output: str, where: str) -> int:
    """Follow ``plan`` to its exit code, submitting it again each time it is lost."""
    losses = 0
    while True:
        try:
            return follow_plan(store, plan, output, sys.stderr, where, submitter.dispatcher)
        except PlanLost as lost:
            losses += 1
            if losses >= PLAN_LOSSES_MAX:
                print_lost(lost.status, lost.why, output)
                print(
                    f"syncer: error: the plan was lost or stuck {losses} times; giving up. Give "
                    "Redis persistence (appendonly yes) and maxmemory-policy noeviction",
                    file=sys.stderr,
                )
                return EXIT_LOST
            submitter.link.call(functools.partial(_retire, store, lost.status.plan))
            again = submitter.submit(resubmit_of=lost.status.plan, attempt=losses + 1)
            n, of = losses + 1, PLAN_LOSSES_MAX
            if isinstance(lost, PlanStuck):
                line = (
                    f"syncer: plan {lost.status.plan} stuck ({lost.why}); planned again as plan "
                    f"{again} (attempt {n} of {of}; images already at the destination are skipped)"
                )
            else:
                line = (
                    f"syncer: plan {lost.status.plan} lost ({lost.why}); re-submitted as plan "
                    f"{again} (attempt {n} of {of}; images already at the destination are skipped)"
                )
            print(line, file=sys.stderr, flush=True)
            plan = again


def _retire(store: PlanStore, plan: str) -> None:
    """Cancel a lost plan Redis still holds a record of, so its workers drop its tasks."""
    if store.exists(plan):
        store.cancel(plan)
