"""The cap on referrers per image: counted across all its subjects and depths.

Each referrer job carries the image its chain started from (``Found.root``).
A tally counts the referrer jobs handed out per root: :class:`MemoryTally` in
``syncer sync``, a Redis hash per plan in a fleet
(:class:`syncer.fleet.steps.referrersteps.RedisTally`). The cap per subject
(:data:`defaults.MAX_REFERRERS`) alone allowed 1,000 per subject at each of
three depths, 10^9 jobs; past :func:`defaults.max_image_referrers` in all, an
image's referrers are not followed further, and each job of its chain still
waiting fails at once, before any request.
"""

from __future__ import annotations

import threading
from typing import Protocol

from syncer import defaults
from syncer.errors import UnsupportedError


class Tally(Protocol):
    """Referrer jobs handed out per root image."""

    def add(self, root: str, count: int) -> int:
        """Count ``count`` more for ``root`` (0 only reads); return the total."""


class MemoryTally:
    """A tally for the threads of one process."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, root: str, count: int) -> int:
        """Count ``count`` more for ``root``; return the total."""
        with self._lock:
            total = self._counts.get(root, 0) + count
            if count:
                self._counts[root] = total
            return total


def charge(tally: Tally, root: str, count: int) -> None:
    """Count ``count`` new referrer jobs of ``root``; refuse them (and all to come) past the cap."""
    cap = defaults.max_image_referrers()
    if tally.add(root, count) > cap:
        raise UnsupportedError(
            f"referrers of {root}: more than {cap} in all, across its subjects and depths "
            "(cap $SYNCER_MAX_IMAGE_REFERRERS); not followed further"
        )
