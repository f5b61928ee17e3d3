"""The blob steps of the distributed mode: copy one blob once for the fleet.

``workers/tasks.py`` calls :func:`copy_blob`, :func:`copy_batch` and :func:`blob_failed`. A copy
holds the in-flight lock for its (destination registry, digest) and one
connection lease per registry, streams (or mounts) the blob, records it in
the shared cache, and releases the images waiting for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

from syncer.backoff import Backoff
from syncer.defaults import BATCH_BUSY_WAIT, TASK_THREADS
from syncer.engine.copypath import copy_and_record
from syncer.engine.transfer import BlobCopier, Outcome
from syncer.errors import (
    CancelledError,
    StateError,
    SyncerError,
    describe,
    is_transient,
)
from syncer.fleet.protocol import keys
from syncer.fleet.state.guard import best_effort
from syncer.fleet.steps.context import FleetContext
from syncer.fleet.steps.enqueue import enqueue_copy
from syncer.fleet.steps.results import fail_image
from syncer.fleet.steps.tagsteps import push_here
from syncer.oci.manifest import Descriptor
from syncer.oci.reference import Repository
from syncer.registry import waiting

log = logging.getLogger(__name__)


class BusyError(SyncerError):
    """Another worker is uploading this blob right now; try again shortly."""


def _limit(fleet: FleetContext, plan: str, registry: str) -> int | None:
    limits = {**fleet.limits, **(fleet.plans.settings(plan).get("limits") or {})}
    value = limits.get(registry)
    return int(value) if value else None


class _ByteCounter:
    """Batches byte counts into one Redis increment every half second."""

    def __init__(self, fleet: FleetContext, plan: str) -> None:
        self._fleet, self._plan = fleet, plan
        self._pending, self._last = 0, time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self._pending += n
            if time.monotonic() - self._last >= 0.5:
                self.flush()

    def flush(self, tokens: Mapping[str, Mapping[str, int]] | None = None) -> None:
        """Write what has accumulated; keep it for later if Redis is away.

        ``tokens`` (once-tokens and their counts) are written in the same step,
        and must be: a Redis error then propagates.
        """
        if tokens is not None:
            self._fleet.ledger.count_each(self._plan, tokens, bytes_done=self._pending)
        elif self._pending:
            # Progress is advisory: a Redis restart must not abort a stream.
            with best_effort("progress is advisory") as attempt:
                self._fleet.ledger.count_each(self._plan, {}, bytes_done=self._pending)
            if attempt.failed:
                log.warning("progress not recorded yet: %s", attempt.error)
                self._last = time.monotonic()
                return
        self._pending, self._last = 0, time.monotonic()


def _cancel_check(fleet: FleetContext, plan: str) -> Callable[[], bool]:
    """Whether the plan was cancelled, asked of Redis at most once a second.

    The task found the plan live as it started (``workers/tasks.py``): the
    first answer stands for a second without asking.
    """
    state = {"at": time.monotonic(), "value": False}

    def stop() -> bool:
        now = time.monotonic()
        if now - state["at"] > 1.0:
            # Unanswered, the last answer stands until the next check.
            with best_effort("keep streaming through a Redis restart"):
                state["value"] = fleet.plans.cancelled(plan)
            state["at"] = now
        return bool(state["value"])

    return stop


@contextmanager
def _leases(fleet: FleetContext, plan: str, *registries: str) -> Iterator[None]:
    """One connection slot per distinct registry, always taken in name order.

    One slot for a copy within one registry (two would deadlock at a limit of
    one), and a fixed order so two workers never each hold the slot the other
    waits for.
    """
    with ExitStack() as stack:
        for registry in sorted(set(registries)):
            stack.enter_context(fleet.limiter.lease(registry, _limit(fleet, plan, registry)))
        yield


def copy_blob(
    fleet: FleetContext,
    plan: str,
    src: Repository,
    dst: Repository,
    desc: Descriptor,
    owner: str,
    stop: Callable[[], bool] | None = None,
) -> str:
    """Copy one blob once for the whole fleet, then release the images waiting for it.

    ``stop`` says whether the plan was cancelled (a batch shares one).
    """
    stop = stop or _cancel_check(fleet, plan)
    if stop():
        return "cancelled"
    key = keys.blob_key(str(dst), desc.digest)
    counter = _ByteCounter(fleet, plan)
    with fleet.locks.hold(dst.registry, desc.digest, owner) as got:
        if not got:
            raise BusyError(
                f"{desc.digest[:19]} is being uploaded to {dst.registry} "
                f"by {fleet.locks.holder(dst.registry, desc.digest)}"
            )
        with _leases(fleet, plan, src.registry, dst.registry):
            copier = BlobCopier(
                fleet.pool.for_repo(src),
                fleet.pool.for_repo(dst),
                on_bytes=counter,
                stop=stop,
                sessions=fleet.uploads,
            )

            def settle(outcome: Outcome) -> None:
                # Before the cache learns of it: an image that then finds the blob
                # cached must not settle its bytes as "already there" first. The
                # bytes streamed, the blob's settle and its landing, in one step.
                landed = {
                    "blobs_done": int(outcome != "exists"),
                    "blobs_skipped": int(outcome == "exists"),
                    "blobs_mounted": int(outcome == "mounted"),
                }
                tokens = {
                    keys.once_settled(dst.registry, desc.digest): _settled(outcome, desc.size),
                    keys.once_landed(key): landed,
                }
                counter.flush(tokens)

            try:
                with waiting.scope():  # a wait budget for this blob's copy
                    outcome = copy_and_record(
                        copier, fleet.cache, src, dst, desc, before_record=settle
                    )
            finally:
                counter.flush()
    _release_waiters(fleet, plan, key, owner)
    return outcome


#: A batch looks again at its busy blobs after 0.05 s, doubling up to 0.5 s.
_RECHECK_FIRST, _RECHECK_MAX = 0.05, 0.5


def _settled(outcome: str, size: int) -> dict[str, int]:
    """What a blob's first outcome in its registry counts, as ``Stats.settle``."""
    field = {"exists": "bytes_skipped", "mounted": "bytes_skipped", "failed": "bytes_failed"}
    return {field[outcome]: max(size, 0)} if outcome in field else {}


def copy_batch(
    fleet: FleetContext,
    plan: str,
    src: Repository,
    dst: Repository,
    blobs: list[Descriptor],
    owner: str,
) -> int:
    """Copy several small blobs, :data:`TASK_THREADS` at a time; return how many were handed back.

    A blob another worker is uploading is looked at again for up to
    :data:`BATCH_BUSY_WAIT` seconds; one that is still busy, or whose copy
    failed for a reason that may heal, is handed back to the queue as a
    ``copy_blob`` task of its own, with its own retries. A permanent failure
    is recorded at once. Redis errors propagate, so the task is retried as a
    whole.
    """
    pending, delays = list(blobs), Backoff(_RECHECK_FIRST, _RECHECK_MAX).delays()
    deadline = time.monotonic() + BATCH_BUSY_WAIT
    stop = _cancel_check(fleet, plan)
    with ThreadPoolExecutor(TASK_THREADS, "copy_blobs") as pool:
        while True:
            done = list(
                pool.map(
                    lambda d: _copied_or_handed_back(fleet, plan, src, dst, d, owner, stop),
                    pending,
                )
            )
            pending = [d for d, finished in zip(pending, done, strict=True) if not finished]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(next(delays))
    for desc in pending:
        enqueue_copy(fleet, plan, src, dst, desc)
    return len(pending)


def hand_back_unlanded(
    fleet: FleetContext, plan: str, src: Repository, dst: Repository, blobs: list[Descriptor]
) -> int:
    """After a batch gave up: hand back each blob not landed yet as a ``copy_blob`` task.

    Those tasks have their own retries and record their own failures; a blob
    that did land is left alone. Returns how many were handed back.
    """
    by_key = {keys.blob_key(str(dst), d.digest): d for d in blobs}
    landed = fleet.board.landed(plan, list(by_key))
    for key, desc in by_key.items():
        if key not in landed:
            enqueue_copy(fleet, plan, src, dst, desc)
    return len(by_key) - len(landed)


def _copied_or_handed_back(
    fleet: FleetContext,
    plan: str,
    src: Repository,
    dst: Repository,
    desc: Descriptor,
    owner: str,
    stop: Callable[[], bool],
) -> bool:
    """False only while another worker holds the blob's in-flight lock."""
    try:
        copy_blob(fleet, plan, src, dst, desc, owner, stop)
    except BusyError:
        return False
    except (CancelledError, StateError):
        raise
    except SyncerError as exc:
        if not is_transient(exc):
            # Permanent (a digest mismatch, a denied push): as the task would.
            blob_failed(fleet, plan, dst, desc, describe(exc))
            return True
        log.info(
            "copy of %s in a batch failed (%s); a copy_blob task retries it",
            desc.digest[:19],
            type(exc).__name__,
        )
        enqueue_copy(fleet, plan, src, dst, desc)
    return True


def _release_waiters(
    fleet: FleetContext,
    plan: str,
    key: str,
    owner: str = "",
    push: Callable[[FleetContext, str, str], object] = push_here,
) -> None:
    """Mark the blob landed; push (here) each image whose last blob it was."""
    waiting = fleet.board.land(plan, key)
    for image in fleet.board.remove_pending_all(plan, waiting, key, owner):
        try:
            push(fleet, plan, image)
        except Exception:
            # Put the blob back, so the retried task is again the last one.
            fleet.board.wait_for(plan, image, [key])
            raise


def blob_failed(
    fleet: FleetContext, plan: str, dst: Repository | str, desc: Descriptor, reason: str
) -> None:
    """Record a blob that cannot be copied and fail every image waiting for it."""
    key = keys.blob_key(str(dst), desc.digest)
    fleet.board.fail_blob(plan, key, reason)
    # A destination that does not parse (a malformed task) still fails its blob.
    registry = dst.registry if isinstance(dst, Repository) else str(dst).split("/", 1)[0]
    tokens = {
        keys.once_failed(key): {"blobs_failed": 1},
        keys.once_settled(registry, desc.digest): _settled("failed", desc.size),
    }
    fleet.ledger.count_each(plan, tokens)
    for image in fleet.board.waiters(plan, key):
        fail_image(fleet, plan, image, reason)
