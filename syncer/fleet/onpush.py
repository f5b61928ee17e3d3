"""Mirror on push: a pushed tag, narrowed to the rules that select it, planned through the planner.

:func:`select` is the one gate between an event and a plan: a tag is planned
only under a configured rule whose key selects it (and whose per-tag filters
pass it), narrowed to exactly that tag, so no event can widen what the rules
copy. :class:`Batcher` coalesces a burst: every tag pushed within one window
goes out in one plan, each (rule, tag) once. :class:`Watcher` follows the plans
it started and reports the time from the first push to the tag synced.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from syncer.config.files import SyncConfig
from syncer.config.rules import Destination, Rule
from syncer.config.tagfilters import TagFilters
from syncer.fleet.pushevents import Ignored, Push

log = logging.getLogger(__name__)

#: How long a plan the webhook started is followed for its push-to-synced time.
WATCH_LIMIT = 3600.0
#: How often the followed plans are looked at.
WATCH_EVERY = 0.25


def _narrowed(rule: Rule, tag: str) -> Rule | Ignored:
    """``rule`` for exactly ``tag``, or why it cannot take that tag alone."""
    if rule.kind == "digest" or not rule.matches(tag) or rule.filters.check(tag) is not None:
        return Ignored("filtered")
    if rule.filters.latest:
        # "the newest N" is a judgement over the whole listing, not one tag: the
        # rule's next scheduled run decides.
        return Ignored("filtered")
    dests: list[Destination] = []
    for dest in rule.destinations:
        if not dest.tags:
            dests.append(dest)
        elif rule.kind == "tags":  # renamed by position in the key's list
            dests.append(Destination(dest.repo, (dest.tags[rule.tags.index(tag)],)))
        # A repo-wide rule renames by position in the listing: not for one tag.
    if not dests:
        return Ignored("filtered")
    return dataclasses.replace(
        rule,
        kind="tags",
        tags=(tag,),
        pattern=None,
        filters=TagFilters(),
        destinations=tuple(dests),
    )


def select(rules: tuple[Rule, ...], push: Push) -> list[Rule] | Ignored:
    """The rules that select the pushed tag, each narrowed to it; or why there are none."""
    named = [
        r
        for r in rules
        if r.source.path == push.path and push.registry in (None, r.source.registry)
    ]
    if not named:
        return Ignored("no_rule")
    narrowed = [_narrowed(r, push.tag) for r in named]
    kept = [r for r in narrowed if isinstance(r, Rule)]
    return kept or Ignored("filtered")


@dataclass
class _Pending:
    rule: Rule
    #: When the first event for this (rule, tag) arrived (monotonic).
    first: float


Submit = Callable[[SyncConfig], str]


class Batcher:
    """Coalesces pushed tags for ``window`` seconds, then plans them all in one plan.

    :meth:`add` is called on the HTTP loop and returns at once; the plan is
    submitted on this object's own thread, after the window closes.
    """

    def __init__(
        self,
        config: SyncConfig,
        submit: Submit,
        window: float,
        started: Callable[[str, list[float]], None],
    ) -> None:
        self._config = config
        self._submit = submit
        self._window = window
        self._started = started
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="webhook-planner", daemon=True)

    def start(self) -> None:
        """Start the planning thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Plan what is pending, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def add(self, rules: list[Rule]) -> int:
        """Queue narrowed rules; return how many were new (not coalesced into a pending one)."""
        now = time.monotonic()
        new = 0
        with self._cond:
            for rule in rules:
                key = (rule.key, rule.tags[0])
                if key not in self._pending:
                    self._pending[key] = _Pending(rule, now)
                    new += 1
            self._cond.notify()
        return new

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                oldest = min(p.first for p in self._pending.values())
                wait = oldest + self._window - time.monotonic()
                if wait > 0 and not self._stopping:
                    self._cond.wait(wait)
                    continue
                batch, self._pending = self._pending, {}
            self._plan(list(batch.values()))

    def _plan(self, batch: list[_Pending]) -> None:
        config = SyncConfig(self._config.auth, tuple(p.rule for p in batch), self._config.limits)
        try:
            plan = self._submit(config)
        except Exception:  # a Redis outage must not end the thread; the events are logged lost
            log.exception("planning %d pushed tag(s) failed", len(batch))
            return
        log.info("plan %s: %d pushed tag(s)", plan, len(batch))
        self._started(plan, [p.first for p in batch])


class Watcher:
    """Follows the webhook's plans; tells ``done`` each one's push-to-synced times when it ends."""

    def __init__(
        self,
        finished: Callable[[str], bool],
        done: Callable[[str, list[float]], None],
    ) -> None:
        self._finished = finished
        self._done = done
        self._plans: dict[str, tuple[float, list[float]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-watcher", daemon=True)

    def start(self) -> None:
        """Start the watching thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(5.0)

    def watch(self, plan: str, firsts: list[float]) -> None:
        """Follow ``plan``, started for pushes first seen at ``firsts`` (monotonic)."""
        with self._lock:
            self._plans[plan] = (time.monotonic(), firsts)

    def _run(self) -> None:
        while not self._stop.wait(WATCH_EVERY):
            with self._lock:
                plans = dict(self._plans)
            for plan, (since, firsts) in plans.items():
                try:
                    over = self._finished(plan)
                except Exception:  # Redis away: look again next round
                    log.debug("plan %s: not readable now", plan, exc_info=True)
                    continue
                if over or time.monotonic() - since > WATCH_LIMIT:
                    with self._lock:
                        self._plans.pop(plan, None)
                    if over:
                        now = time.monotonic()
                        self._done(plan, [now - first for first in firsts])
