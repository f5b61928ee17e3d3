"""Following a plan: progress bars, live workers, the final report and exit code.

``syncer plan --wait`` and ``syncer status [-f]`` draw from here; nothing
here sends tasks or touches a registry. A plan whose state Redis lost
(``fleet/state/liveness.py``) raises :class:`PlanLost` out of :func:`follow_plan`;
:func:`follow` reports it and exits ``EXIT_LOST``, ``plan --wait`` re-submits.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO, TypeVar

import redis

from syncer import defaults
from syncer.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOST, EXIT_OK
from syncer.engine.progress import bytes_line, human_bytes, summary
from syncer.fleet.protocol import redisclient
from syncer.fleet.state.liveness import Watermark

if TYPE_CHECKING:
    from syncer.fleet.state.plans import PlanStatus, PlanStore
    from syncer.fleet.steps.context import Dispatcher

T = TypeVar("T")


#: Redraw every FOLLOW_REDRAW; look for the plan's end every FOLLOW_POLL, so
#: ``plan --wait`` returns promptly.
FOLLOW_REDRAW, FOLLOW_POLL = 0.5, 0.05
#: Count live workers every FOLLOW_WORKER_CHECK; say there are none only after
#: FOLLOW_NO_WORKER_GRACE of none, so a gap of one count is not reported.
FOLLOW_WORKER_CHECK, FOLLOW_NO_WORKER_GRACE = 2.0, 3.0


def _bar(done: int, total: int, width: int = 24) -> str:
    frac = min(1.0, done / total) if total else 0.0
    filled = int(frac * width)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {frac * 100:5.1f}%"


def render(status: PlanStatus, rate: float | None = None, workers: int | None = None) -> str:
    """Three progress bars (bytes, blobs, tags) with rate and ETA, and the live workers.

    A plan that is over (finished or cancelled) shows its average rate and no ETA.
    """
    c = status.counters
    over = status.finished
    if rate is None or over:
        rate = c["bytes_done"] / max(status.stats().elapsed, 1e-6)
    settled = c["bytes_done"] + c["bytes_skipped"] + c["bytes_failed"]
    left = max(c["bytes_total"] - settled, 0)
    eta = f"{left / rate:.0f}s" if rate > 0 and left else ("0s" if not left else "?")
    _, moved = bytes_line(c["bytes_done"], c["bytes_skipped"], c["bytes_total"])
    blobs = c["blobs_done"] + c["blobs_skipped"] + c["blobs_failed"]
    tags = c["tags_done"] + c["tags_skipped"] + c["tags_failed"]
    return "\n".join(
        [
            f"plan {status.plan}: {status.state}"
            + ("" if workers is None else f", {workers} worker(s) alive"),
            f"bytes {_bar(c['bytes_done'] + c['bytes_skipped'], c['bytes_total'])} {moved} "
            f"{human_bytes(rate)}/s" + ("" if over else f" eta {eta}"),
            f"blobs {_bar(blobs, c['blobs_total'])} {blobs}/{c['blobs_total']} "
            f"({c['blobs_mounted']} mounted, {c['blobs_failed']} failed)",
            f"tags  {_bar(tags, c['tags_total'])} {tags}/{c['tags_total']} "
            f"({c['tags_skipped']} unchanged, {c['tags_failed']} failed)",
        ]
    )


def report(status: PlanStatus) -> dict[str, object]:
    """The machine-readable report of a plan (``lost``, why, only for a lost one)."""
    lost = {"lost": status.lost} if status.lost else {}
    return {
        "plan": status.plan,
        "state": status.state,
        "counters": status.counters,
        **status.stats().report(),
        **lost,
    }


class PlanLost(Exception):
    """Redis lost the state of the plan being followed."""

    def __init__(self, status: PlanStatus, why: str) -> None:
        super().__init__(f"plan {status.plan} lost: {why}")
        self.status, self.why = status, why


class PlanStuck(PlanLost):
    """The plan is not over and nothing in flight can end it: one of its tasks was lost."""


def follow(store: PlanStore, plan: str, output: str, stream: TextIO, where: str = "") -> int:
    """:func:`follow_plan`, and a lost plan reported: ``lost`` and why, exit ``EXIT_LOST``."""
    try:
        return follow_plan(store, plan, output, stream, where)
    except PlanLost as lost:
        print_lost(lost.status, lost.why, output)
        return EXIT_LOST


def print_lost(status: PlanStatus, why: str, output: str) -> None:
    """A lost plan: one line on stderr, and with ``--output json`` its report saying ``lost``."""
    from dataclasses import replace

    print(f"syncer: plan {status.plan} lost: {why}", file=sys.stderr, flush=True)
    if output == "json":
        print(json.dumps(report(replace(status, lost=why)), indent=2))


def follow_plan(
    store: PlanStore,
    plan: str,
    output: str,
    stream: TextIO,
    where: str = "",
    dispatch: Dispatcher | None = None,
) -> int:
    """Redraw progress until the plan finishes; print the report; exit like sync.

    Ctrl-C stops following, not the plan: the workers carry on, and the
    message says how to look again or cancel. A Redis outage (``where`` names
    it, without its password) is ridden out like the workers do. Raises
    :class:`PlanLost` when Redis lost the plan.
    """
    try:
        link = Reconnect(where or "Redis", stream)
        return _follow(store, plan, output, stream, link, dispatch)
    except KeyboardInterrupt:
        print(
            f"\nstopped following plan {plan}; it keeps running on the workers.\n"
            f"  follow it again: syncer status {plan} -f\n"
            f"  cancel it:       syncer cancel {plan}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


class Reconnect:
    """Runs each call again, at the fleet's reconnect pace, while Redis is unreachable."""

    def __init__(self, where: str, stream: TextIO) -> None:
        self._stream = stream
        self._outage = redisclient.Outage(where, self._say)

    def call(self, read: Callable[[], T]) -> T:
        """``read()``; through a Redis outage, one line when it starts and one when it ends.

        A read that fails once and then works (a pooled connection Redis had
        closed before a restart) is not an outage, and is not reported.
        """
        failures = 0
        for delay in redisclient.reconnect_delays():
            try:
                value = read()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                failures += 1
                if failures == 2:
                    self._outage.began(exc)
                time.sleep(delay)
                continue
            self._outage.ended()
            return value
        raise AssertionError("unreachable: the delays never end")

    def _say(self, text: str) -> None:
        self._stream.write(f"syncer: {text}\n")
        self._stream.flush()


class _WorkerWatch:
    """Counts live workers while a plan is followed, and says so when there are none."""

    def __init__(self, store: PlanStore, stream: TextIO) -> None:
        from syncer.fleet.state.roster import Roster

        self._roster, self._stream = Roster(store.redis), stream
        self._checked = -FOLLOW_WORKER_CHECK
        self._none_since: float | None = None
        self._warned = False
        self.count: int | None = None

    def check(self) -> None:
        """Re-count at most every ``FOLLOW_WORKER_CHECK`` seconds; warn once after a grace."""
        now = time.monotonic()
        if now - self._checked < FOLLOW_WORKER_CHECK:
            return
        self._checked = now
        self.count = len(self._roster.alive())
        if self.count:
            if self._warned:
                self._say(f"{self.count} worker(s) consuming again")
            self._none_since, self._warned = None, False
            return
        self._none_since = self._none_since if self._none_since is not None else now
        if not self._warned and now - self._none_since >= FOLLOW_NO_WORKER_GRACE:
            self._warned = True
            self._say(
                "no worker is consuming queue 'celery' on this Redis; start one with "
                "`syncer worker` (still waiting)"
            )

    def _say(self, text: str) -> None:
        self._stream.write(f"syncer: {text}\n")
        self._stream.flush()


class _Stall:
    """Reconciles a plan that stood still for a while (``fleet/state/reconcile.py``).

    With a ``dispatch`` (``plan --wait`` has one), the copies its waiting
    images need are sent again too, so a lost task or wake-up cannot hold the
    plan open for ever.
    """

    def __init__(self, store: PlanStore, stream: TextIO, dispatch: Dispatcher | None) -> None:
        self._store, self._stream, self._dispatch = store, stream, dispatch
        self._seen: tuple[int, ...] = ()
        self._since = time.monotonic()

    def check(self, status: PlanStatus) -> None:
        """Note progress; after a still spell, record any image final but uncounted."""
        now, c = time.monotonic(), status.counters
        seen = tuple(c[k] for k in sorted(c))
        if seen != self._seen:
            self._seen, self._since = seen, now
            return
        if now - self._since < defaults.FOLLOW_RECONCILE_AFTER:
            return
        from syncer.fleet.state.reconcile import nothing_in_flight, reconcile, stalled_copies

        self._since = now
        found = reconcile(self._store.redis, status.plan, defaults.FOLLOW_RECONCILE_AFTER)
        if found:
            self._say(
                f"plan {status.plan}: {found} image(s) final but never counted "
                "(their worker stopped in between); recorded failed"
            )
        if self._dispatch is None:
            return
        copies = stalled_copies(self._store.redis, status.plan)
        for message in copies:
            self._dispatch.send(message.TASK, message.to_body(), None)
        if copies:
            self._say(
                f"plan {status.plan}: no progress for {defaults.FOLLOW_RECONCILE_AFTER:.0f}s "
                f"with images waiting for {len(copies)} blob(s); their copies sent again "
                "(a blob already there is not uploaded twice)"
            )
        elif nothing_in_flight(self._store.redis) and not self._store.finished(status.plan):
            c = status.counters
            settled = sum(c.get(k, 0) for k in ("tags_done", "tags_skipped", "tags_failed"))
            left = c.get("tags_total", 0) - settled
            raise PlanStuck(
                status,
                f"no progress for {defaults.FOLLOW_RECONCILE_AFTER:.0f}s, no task queued or "
                f"running, {max(left, 0)} image(s) not done: a task of it was lost",
            )

    def _say(self, text: str) -> None:
        self._stream.write(f"syncer: {text}\n")
        self._stream.flush()


def _lost(status: PlanStatus, mark: Watermark) -> None:
    """Raise :class:`PlanLost` if the plan as read is lost, or went back from what was seen."""
    why = status.lost or mark.check(status.meta, status.counters)
    if why:
        raise PlanLost(status, why)


def _follow(
    store: PlanStore,
    plan: str,
    output: str,
    stream: TextIO,
    link: Reconnect,
    dispatch: Dispatcher | None = None,
) -> int:
    tty = stream.isatty()
    last: tuple[float, int] | None = None
    watch = _WorkerWatch(store, stream)
    mark, stall = Watermark(), _Stall(store, stream, dispatch)
    while True:
        status = link.call(lambda: store.status(plan, results=False))
        _lost(status, mark)
        if not status.finished:
            link.call(watch.check)
            link.call(functools.partial(stall.check, status))
        if tty:
            now, done = time.monotonic(), status.counters["bytes_done"]
            rate = (done - last[1]) / (now - last[0]) if last and now > last[0] else None
            last = (now, done)
            stream.write("\033[4A\033[J" if rate is not None else "")
            stream.write(render(status, rate, watch.count) + "\n")
            stream.flush()
        if status.finished:
            break
        link.call(lambda: _wait_for_end(store, plan, FOLLOW_REDRAW))
    final = link.call(lambda: store.status(plan))
    _lost(final, mark)
    if final.cancelled:
        print(f"plan {plan} was cancelled", file=sys.stderr)
    print_final(final, output)
    return plan_exit(final)


def _wait_for_end(store: PlanStore, plan: str, seconds: float) -> None:
    """Poll the counters until the plan ends or ``seconds`` pass.

    The full status (every image result) is read once per redraw; the end is
    noticed within :data:`FOLLOW_POLL`, so ``plan --wait`` returns promptly.
    """
    deadline = time.monotonic() + seconds
    while not store.finished(plan) and time.monotonic() < deadline:
        time.sleep(FOLLOW_POLL)


def print_final(status: PlanStatus, output: str) -> None:
    if output == "json":
        print(json.dumps(report(status), indent=2))
    else:
        print(summary(status.stats()))


def plan_exit(status: PlanStatus) -> int:
    """``EXIT_LOST`` for a lost plan, ``EXIT_FAILED`` if any image failed or it was cancelled."""
    if status.lost:
        return EXIT_LOST
    return EXIT_FAILED if status.counters["tags_failed"] or status.cancelled else EXIT_OK
