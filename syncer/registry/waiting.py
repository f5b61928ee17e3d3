"""One budget for the time an image may spend waiting on each registry.

Deadlines bound each wait on its own; this bounds them together. A silent
registry used to cost one image five attempts of the 60 s answer deadline,
and a 429 with a huge ``Retry-After`` four backoffs of 60 s, ``-r 0`` or not.
What counts against an image's :class:`WaitBudget`, per registry host:

* the time a request waited for an answer that never came (it failed with a
  :class:`~syncer.errors.TransportError`: a deadline, a reset, a refusal);
* every backoff before a retry, ``Retry-After`` included;
* every pause of a throttled registry (:mod:`syncer.registry.throttle`).

Answers that came, however slowly, and bodies that stream are not waiting:
the request deadline and the minimum rate bound those. The executors open a
:func:`scope` per image (``syncer sync`` keeps it across its retry rounds; a
fleet task opens one per image it works on), and everything below finds the
budget there. Once an image has waited its budget on a registry, the next
wait fails it with a permanent :class:`~syncer.errors.WaitBudgetError`
naming the budget; a ``Retry-After`` longer than what is left fails it at
once; and a request's answer deadline is cut to what is left.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from syncer import defaults
from syncer.errors import WaitBudgetError
from syncer.registry import deadline


@dataclass
class WaitBudget:
    """Seconds of waiting one image may spend on each registry, and what it has spent."""

    seconds: float
    spent: dict[str, float] = field(default_factory=dict)
    #: The registry of the last request in this budget's scope: a backoff waits on it.
    last: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def fresh(cls) -> WaitBudget:
        """A whole budget of :func:`defaults.wait_budget` seconds."""
        return cls(defaults.wait_budget())

    def left(self, host: str) -> float:
        """Seconds still to spend waiting on ``host``."""
        with self._lock:
            return self.seconds - self.spent.get(host, 0.0)

    def charge(self, host: str, seconds: float) -> None:
        """Count ``seconds`` of waiting on ``host``."""
        with self._lock:
            self.spent[host] = self.spent.get(host, 0.0) + max(seconds, 0.0)

    def exhausted(self, host: str, why: str) -> WaitBudgetError:
        """The error that ends the image: ``why`` it would wait more than it has left."""
        spent = self.seconds - self.left(host)
        return WaitBudgetError(
            f"{why}; gave up after {spent:.0f} s of waiting on {host}: the wait budget of "
            f"one image on one registry is {self.seconds:g} s (SYNCER_WAIT_BUDGET)"
        )


_CURRENT: contextvars.ContextVar[WaitBudget | None] = contextvars.ContextVar(
    "syncer_wait_budget", default=None
)


@contextmanager
def scope(budget: WaitBudget | None = None) -> Iterator[WaitBudget]:
    """Waits in this block (this thread) count against ``budget``, or a fresh one."""
    budget = budget if budget is not None else WaitBudget.fresh()
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def current() -> WaitBudget | None:
    """The budget of the image this thread works on, if any."""
    return _CURRENT.get()


def host_of(url: str) -> str:
    """The registry a URL belongs to, as budgets key it."""
    return urlsplit(url).netloc.rpartition("@")[2].lower()


def answer_limit(url: str, answer: float) -> tuple[float, str]:
    """The answer deadline for a request to ``url``, and what sets it, for the breach message.

    Refuses the request if its registry has had the image's whole budget.
    """
    budget, host = current(), host_of(url)
    if budget is None:
        return answer, ""
    budget.last = host
    left = budget.left(host)
    if left <= 0:
        raise budget.exhausted(host, f"{urlsplit(url).path}: not sent")
    if left >= answer:
        return answer, ""
    why = f"the rest of the {budget.seconds:g} s wait budget for {host}, SYNCER_WAIT_BUDGET"
    return max(round(left, 1), 0.1), why  # tenths: the watchdog ticks at 0.2 s anyway


def unanswered(url: str, seconds: float) -> None:
    """A request to ``url`` waited ``seconds`` and got no answer: charge them."""
    budget = current()
    if budget is not None:
        budget.charge(host_of(url), seconds)


def pause(
    seconds: float,
    why: str,
    host: str = "",
    asked: float | None = None,
    sleep: Callable[[float], None] = deadline.sleep,
) -> None:
    """Sleep ``seconds`` before trying ``host`` again (the last one asked, by default).

    ``asked`` is what the registry asked for (``Retry-After``), when more than
    we would sleep: past the budget left, it fails the image now rather than
    after retries that cannot succeed in time.
    """
    budget = current()
    if budget is not None:
        host = host.lower() or budget.last
        left = budget.left(host)
        if max(seconds, asked or 0.0) >= left:
            raise budget.exhausted(host, why)
        budget.charge(host, seconds)
    sleep(seconds)  # deadline.sleep is cut short by an interrupt
