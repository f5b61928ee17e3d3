"""Feeding a config's images to an executor as its rules are expanded, not after.

Rules are expanded on threads into a small bounded queue, and the executor
takes jobs from :func:`feed` as they come: a repository of 200,000 tags is
resolved page by page while it is still being listed, and nothing holds the
whole listing at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from syncer.config.rules import Rule
from syncer.engine.expansion import expand_rule
from syncer.engine.jobs import ImageResult, TagJob
from syncer.errors import SyncerError
from syncer.registry.pool import ClientPool

log = logging.getLogger(__name__)


#: Jobs listed ahead of the thread pool: enough to keep every thread busy,
#: few enough that a huge listing is not held in memory.
FEED_AHEAD = 256
#: How often a blocked lister or copier looks at the stop flag, in seconds:
#: well inside STOP_GRACE, so Ctrl-C is felt at once.
FEED_POLL = 0.1


@dataclass(frozen=True, slots=True)
class _RuleFailed:
    rule: Rule
    error: SyncerError


_Item = TagJob | ImageResult | _RuleFailed | None


def feed(
    rules: Sequence[Rule],
    pool: ClientPool,
    *,
    threads: int,
    failed: Callable[[ImageResult], None],
    rule_failed: Callable[[Rule, SyncerError], None],
    stop: Callable[[], bool] = lambda: False,
    referrers: bool = False,
) -> Generator[TagJob, None, None]:
    """Every job the rules select, once per (source, destination), as it is listed.

    A listed tag outside the grammar goes to ``failed`` (one result per image),
    and a rule that could not be expanded to ``rule_failed``.
    """
    items: queue.Queue[_Item] = queue.Queue(maxsize=FEED_AHEAD)
    closed = threading.Event()

    def put(item: _Item) -> bool:
        while not (closed.is_set() or stop()):
            try:
                items.put(item, timeout=FEED_POLL)
                return True
            except queue.Full:
                continue
        return False

    def expand(rule: Rule) -> None:
        n = 0
        try:
            for item in expand_rule(rule, pool, referrers=referrers):
                if not put(item):
                    return
                n += 1
            if rule.needs_listing:
                _log_listed(rule, n)
        except SyncerError as exc:
            put(_RuleFailed(rule, exc))
        finally:
            put(None)

    with ThreadPoolExecutor(max(threads, 1), thread_name_prefix="expand") as ex:
        futures = [ex.submit(expand, rule) for rule in rules]
        try:
            yield from _take(items, len(rules), failed, rule_failed, stop)
        finally:
            closed.set()
    _raise_bugs(futures)


def _log_listed(rule: Rule, items: int) -> None:
    """Say how many tags a listing selected, and the images they make (one per destination)."""
    # Every selected tag gives one item per destination, copied or failed.
    destinations = max(len(rule.destinations), 1)
    if destinations == 1:
        log.info("%s: %d tags listed", rule.key, items)
    else:
        log.info(
            "%s: %d tags listed; %d images, one per tag and destination",
            rule.key,
            items // destinations,
            items,
        )


def _take(
    items: queue.Queue[_Item],
    producers: int,
    failed: Callable[[ImageResult], None],
    rule_failed: Callable[[Rule, SyncerError], None],
    stop: Callable[[], bool],
) -> Iterator[TagJob]:
    """Jobs from ``items`` until every producer has said it is done (None)."""
    seen: set[tuple[str, str]] = set()
    while producers and not stop():
        try:
            item = items.get(timeout=FEED_POLL)
        except queue.Empty:
            continue
        if item is None:
            producers -= 1
        elif isinstance(item, ImageResult):
            log.error("failed %s: %s", item.source, item.reason)
            failed(item)
        elif isinstance(item, _RuleFailed):
            rule_failed(item.rule, item.error)
        else:
            key = (str(item.source), str(item.dest))
            if key not in seen:
                seen.add(key)
                yield item


def _raise_bugs(futures: list[Future[None]]) -> None:
    """Re-raise what a producer raised outside the error tree (a bug, not a registry)."""
    for fut in futures:
        fut.result()
