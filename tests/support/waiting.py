"""The one poll-until of the tests: ask again until the answer is truthy, or fail naming what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    what: str | Callable[[], str],
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.1,
) -> T:
    """Call ``predicate()`` every ``interval`` s until it returns something truthy; return that.

    Fails with ``timed out after Ns: <what>`` once ``timeout`` has passed;
    ``what`` may be a function, called then, to say what was seen last.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = predicate()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s: {what() if callable(what) else what}"
            )
        time.sleep(interval)
