"""Thin Celery tasks: decode JSON arguments, apply the retry policy, call one step.

Retry policy: :data:`syncer.errors.TRANSIENT` errors are retried with
exponential backoff (``Retry-After`` honoured) up to ``max_retries``; then,
and at once for every other exception (a bad reference in the arguments, a
bug), the failure is recorded in the plan with its reason and the task ends,
so the plan's counters always settle. A blob another worker is uploading is
simply looked at again a little later.

A task whose plan this Redis does not know (never planned, or expired) or
that was cancelled is dropped before it touches a registry, so a stray or
replayed task never runs with the worker's credentials. It is no barrier to
whoever can write to Redis (they can create a plan too): Redis is the trust
boundary, as the README says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import kombu.exceptions
import redis
from celery import Task
from celery.exceptions import Reject
from celery.signals import task_prerun

from syncer.errors import (
    AuthError,
    CancelledError,
    StateError,
    SyncerError,
    describe,
    is_transient,
)
from syncer.fleet import blobsteps, settings, steps
from syncer.jobs import TagJob
from syncer.manifest import Descriptor
from syncer.reference import Repository
from syncer.retry import backoff_delay
from workers import links
from workers.app import app
from workers.context import credential_note, fleet

log = logging.getLogger(__name__)

MAX_RETRIES = 6
#: How long a task waits for Redis to come back before retrying through it.
REDIS_WAIT = 120.0
#: Looking again at a blob another worker is uploading: 0.1 s, doubling to 2 s.
BUSY_FIRST, BUSY_MAX = 0.1, 2.0


@contextmanager
def _state_errors() -> Iterator[None]:
    """Redis hiccups (a restart, a failover) become a transient :class:`StateError`."""
    try:
        yield
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        raise StateError(f"fleet state unavailable: {type(exc).__name__}") from exc


def _await_redis(timeout: float = REDIS_WAIT) -> None:
    """Block until Redis answers again (a restart, a failover), for at most ``timeout``.

    A retry is a new message on the broker, and the broker is that Redis: while
    it is down Celery cannot publish the retry and would drop the task instead.
    """
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            fleet().redis.ping()
            return
        except redis.RedisError:
            if time.monotonic() >= deadline:
                return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _retry_or_record(task: Task, exc: Exception, record: Callable[[str], None]) -> None:
    """Retry a transient error with backoff, or record the failure for good."""
    if not isinstance(exc, SyncerError):
        # A bug or a malformed task: record it all the same, or the plan never ends.
        log.exception("task %s[%s] failed", task.name, task.request.id)
        record(f"internal error: {type(exc).__name__}")
        return
    retries = task.request.retries
    if isinstance(exc, StateError):
        _await_redis()
    if is_transient(exc) and retries < MAX_RETRIES:
        # Celery sends the traceback of a retry to Flower; the chained requests
        # exception would carry full URLs (upload state, pre-signed query strings).
        exc.__cause__ = exc.__context__ = None
        _retry(task, exc, countdown=backoff_delay(retries + 1, exc))
    record(describe(exc) + _auth_hint(task, exc))


def _retry(task: Task, exc: SyncerError, countdown: float) -> None:
    """``task.retry``, but a retry that cannot be published keeps the original message.

    Celery answers a failed publish (Redis gone again) with
    ``Reject(requeue=False)``, which would drop the task for good; requeueing
    the original instead lets the broker hand it out again once Redis is back.
    """
    try:
        raise task.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES) from None
    except Reject as rejected:
        if rejected.requeue:
            raise
        log.warning("task %s[%s]: retry not published; requeued", task.name, task.request.id)
        raise Reject(f"{task.name}: retry not published", requeue=True) from None


def _auth_hint(task: Task, exc: SyncerError) -> str:
    """For a 401/403: which worker it was, and whether it holds credentials for that registry.

    Credentials never travel with a plan, so a refusal usually means this
    worker's auth file lacks (or has other) credentials for the registry.
    """
    if not isinstance(exc, AuthError):
        return ""
    note = credential_note(exc.url)
    worker = task.request.hostname or "unknown"
    return f" [worker {worker}" + (f": {note}" if note else "") + "]"


def _refused(task: Task, plan: object) -> str | None:
    """``dropped`` or ``cancelled`` if the task's plan is unknown or cancelled, else None."""
    try:
        with _state_errors():
            standing = fleet().plans.standing(plan) if isinstance(plan, str) else "unknown"
    except StateError as exc:
        _await_redis()
        raise task.retry(exc=exc, countdown=1, max_retries=MAX_RETRIES) from None
    if standing == "live":
        return None
    # A cancelled plan's queued tasks are expected; a task for an unknown plan is not.
    level = logging.WARNING if standing == "unknown" else logging.INFO
    log.log(level, "dropped task %s[%s]: plan %s is %s", task.name, task.request.id, plan, standing)
    return "cancelled" if standing == "cancelled" else "dropped"


def _field(data: object, key: str) -> str:
    """``data[key]`` as text, for recording a task whose arguments do not decode."""
    return str(data.get(key, "")) if isinstance(data, dict) else ""


def _confirmed(publish: Callable[[], object]) -> bool:
    """Run a hand-off to the queue; after a failure, wait for Redis and try once more.

    Returns whether the hand-off was published. The message being handled is
    acknowledged only when its task returns (``acks_late``), so a caller that
    gets False must keep the work or :func:`_requeue` it, never just return.
    """
    try:
        publish()
        return True
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        log.warning("hand-off not published (%s); waiting for Redis", type(exc).__name__)
    _await_redis()
    try:
        publish()
        return True
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        log.warning("hand-off not published again (%s)", type(exc).__name__)
        return False


def _requeue(what: str) -> Reject:
    """Give the message back unacknowledged: its hand-off could not be published.

    Celery requeues it; if Redis is still away even for that, the message
    stays among this worker's unacknowledged ones, which the broker requeues
    once Redis answers again (see :class:`syncer.fleet.broker.QoS`).
    """
    log.warning("%s: Redis did not come back; the task is requeued", what)
    return Reject(f"{what}: fleet state unavailable", requeue=True)


@task_prerun.connect
def _say_alive(sender: Any = None, task: Task | None = None, **kwargs: Any) -> None:
    """Every task start tells the fleet this worker is up (rate-limited), for idle_peer."""
    if task is not None:
        links.alive(fleet().redis, task.request.hostname or "")


def _handed_back(task: Task, size: int, deferred: int, priority: int) -> bool:
    """Hand a copy back to the shared queue if this worker's link is busy and a peer's is idle.

    Not to the peer's own queue: a worker that dies in between would strand the
    copy there.
    """
    me = task.request.hostname or ""
    if not links.should_defer(size, deferred) or links.idle_peer(fleet().redis, me) is None:
        return False
    kwargs = {**task.request.kwargs, "deferred": deferred + 1}
    # Unpublished, the copy stays here: this worker takes it itself.
    return _confirmed(lambda: task.apply_async(kwargs=kwargs, priority=priority))


@app.task(name=settings.EXPAND_RULE, bind=True)
def expand_rule(self: Task, plan: str, rule: dict[str, Any]) -> int:
    """List a rule's tags and enqueue one sync_tag per image."""
    if _refused(self, plan):
        return 0
    f = fleet()
    try:
        with _state_errors():
            return steps.expand(f, plan, rule)
    except Exception as exc:
        _retry_or_record(self, exc, lambda reason: steps.expand_failed(f, plan, rule, reason))
        return 0


@app.task(name=settings.ENQUEUE_TAGS, bind=True)
def enqueue_tags(self: Task, plan: str, jobs: list[dict[str, Any]]) -> int:
    """Publish one chunk of a large fan-out as sync_tag tasks."""
    if _refused(self, plan):
        return 0
    f = fleet()
    try:
        with _state_errors():
            return steps.enqueue_tags(f, plan, jobs)
    except Exception as exc:

        def record(reason: str) -> None:
            for job in jobs:
                source, dest, rule = (_field(job, k) for k in ("source", "dest", "rule"))
                steps.tag_failed(f, plan, source, dest, rule, reason)

        _retry_or_record(self, exc, record)
        return 0


@app.task(name=settings.SYNC_TAG, bind=True)
def sync_tag(
    self: Task, plan: str, source: str, dest: str, rule: str = "", platforms: Any = None
) -> str:
    """Resolve one image (HEADs first) and fan out its missing blobs."""
    refused = _refused(self, plan)
    if refused:
        return refused
    f = fleet()
    try:
        # Parsed inside the try: a bad reference is recorded as this image's failure.
        job = TagJob.from_dict(
            {"source": source, "dest": dest, "rule": rule, "platforms": platforms}
        )
        with _state_errors():
            return steps.sync_tag(f, plan, job, owner=self.request.id or "")
    except CancelledError:
        return "cancelled"
    except Exception as exc:
        _retry_or_record(
            self,
            exc,
            lambda reason: steps.tag_failed(f, plan, str(source), str(dest), str(rule), reason),
        )
        return "failed"


@app.task(name=settings.COPY_BLOB, bind=True)
def copy_blob(
    self: Task,
    plan: str,
    src: str,
    dst: str,
    digest: str,
    size: int,
    media_type: str = "",
    waited: int = 0,
    deferred: int = 0,
) -> str:
    """Stream one blob from ``src`` to ``dst`` (or mount it), once for the fleet."""
    refused = _refused(self, plan)
    if refused:
        return refused
    f = fleet()
    me = self.request.hostname or ""
    if _handed_back(self, size, deferred, settings.blob_priority(size)):
        return "deferred"
    desc = Descriptor(media_type, digest, size)
    try:
        src_repo, dst_repo = Repository.parse(src), Repository.parse(dst)
        with _state_errors(), links.streaming(size, f.redis, me, pause_intake=True):
            return blobsteps.copy_blob(
                f, plan, src_repo, dst_repo, desc, owner=self.request.id or "unknown"
            )
    except CancelledError:
        return "cancelled"  # the plan was cancelled mid-stream; nothing to record
    except blobsteps.BusyError:
        # Look again shortly, as a fresh task: waiting must not eat the retry
        # budget for real errors, nor hold a worker slot.
        kwargs = {**self.request.kwargs, "waited": waited + 1}
        countdown = min(BUSY_MAX, BUSY_FIRST * 2**waited)
        priority = settings.blob_priority(size)
        if not _confirmed(
            lambda: self.apply_async(kwargs=kwargs, countdown=countdown, priority=priority)
        ):
            raise _requeue(f"busy re-check of {digest[:19]}") from None
        return "busy"
    except Exception as exc:
        _retry_or_record(
            self, exc, lambda reason: blobsteps.blob_failed(f, plan, dst, desc, reason)
        )
        return "failed"


@app.task(name=settings.COPY_BLOBS, bind=True)
def copy_blobs(
    self: Task, plan: str, src: str, dst: str, blobs: list[dict[str, Any]], deferred: int = 0
) -> str:
    """Copy several small blobs of one image, one after another (see ``sync_tag``)."""
    refused = _refused(self, plan)
    if refused:
        return refused
    f = fleet()
    me = self.request.hostname or ""
    descs = [Descriptor(b["media_type"], b["digest"], b["size"]) for b in blobs]
    total = sum(max(d.size, 0) for d in descs)
    if _handed_back(self, total, deferred, settings.BATCH_PRIORITY):
        return "deferred"
    src_repo, dst_repo = Repository.parse(src), Repository.parse(dst)
    try:
        with _state_errors(), links.streaming(total, f.redis, me):
            handed_on = blobsteps.copy_batch(
                f, plan, src_repo, dst_repo, descs, owner=self.request.id or ""
            )
    except CancelledError:
        return "cancelled"
    except Exception as exc:
        # Out of retries (Redis kept failing): the blobs that did not land get
        # copy_blob tasks of their own; none is recorded failed from here.
        def hand_on(reason: str) -> None:
            if not _confirmed(
                lambda: blobsteps.hand_on_unlanded(f, plan, src_repo, dst_repo, descs)
            ):
                raise _requeue(f"hand-on of {len(descs)} blobs") from None

        _retry_or_record(self, exc, hand_on)
        return "failed"
    return "handed_on" if handed_on else "copied"


@app.task(name=settings.PUSH_IMAGE, bind=True)
def push_image(self: Task, plan: str, image: str, dest: str = "") -> str:
    """Push an image's manifests once all its blobs have landed."""
    refused = _refused(self, plan)
    if refused:
        return refused
    f = fleet()
    try:
        with _state_errors():
            return steps.push_image(f, plan, image)
    except Exception as exc:
        _retry_or_record(self, exc, lambda reason: steps.fail_image(f, plan, image, reason))
        return "failed"
