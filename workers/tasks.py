"""Thin Celery tasks: decode the message, call one step; :func:`fleet_task` holds the policy.

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

A message newer than this worker reads, like a task name it does not know,
goes back to the queue for a newer worker (:mod:`workers.upgrade`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import kombu.exceptions
import redis
from celery import Task
from celery.exceptions import Reject, TaskPredicate
from celery.signals import task_prerun

from syncer.config.platformchoice import platform_list
from syncer.defaults import BATCH_PRIORITY, BUSY_FIRST, BUSY_MAX, MAX_RETRIES, REDIS_WAIT
from syncer.engine.jobs import TagJob
from syncer.errors import AuthError, CancelledError, StateError, SyncerError, describe, is_transient
from syncer.fleet.protocol import redisclient, settings
from syncer.fleet.protocol.messages import (
    CopyBlob,
    CopyBlobs,
    EnqueueTags,
    ExpandRule,
    Message,
    PushImage,
    SyncTag,
    SyncTags,
    VerifyRule,
    VerifyTags,
)
from syncer.fleet.state.guard import best_effort, guard
from syncer.fleet.steps import blobsteps, enqueue, results, tagsteps, verifysteps
from syncer.fleet.steps.context import FleetContext
from syncer.oci.reference import ImageRef, Repository
from syncer.registry.retry import backoff_delay
from workers import links
from workers.app import app
from workers.context import credential_note, fleet
from workers.upgrade import require_version

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
#: A step as the task runs it: the task (for its request), the context, the message.
Step = Callable[[Task, FleetContext, M], Any]
#: Records a task's failure from its body as received (it may not decode).
Record = Callable[[FleetContext, Mapping[str, Any], str], None]


def _state_errors() -> AbstractContextManager[None]:
    """Redis hiccups (a restart, a failover) become a transient :class:`StateError`."""
    return guard("fleet state", kombu.exceptions.OperationalError)


def _await_redis(timeout: float = REDIS_WAIT) -> None:
    """Block until Redis answers again (a restart, a failover), for at most ``timeout``.

    A retry is a new message on the broker, and the broker is that Redis: while
    it is down Celery cannot publish the retry and would drop the task instead.
    Tries at the pace of :func:`~syncer.fleet.protocol.redisclient.reconnect_delays`,
    and says so in the words ``plan --wait`` uses.
    """
    deadline = time.monotonic() + timeout
    outage = redisclient.Outage("Redis", log.warning)
    for delay in redisclient.reconnect_delays():
        with best_effort("waiting for Redis to come back") as attempt:
            fleet().redis.ping()
        if not attempt.failed:
            outage.ended()
            return
        outage.began(attempt.error or redis.ConnectionError())
        if time.monotonic() >= deadline:
            log.warning("Redis still unreachable after %.0fs; the task goes on", timeout)
            return
        time.sleep(delay)


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
    lost = kombu.exceptions.OperationalError
    with best_effort("waited for, then tried once more", lost) as first:
        publish()
    if not first.failed:
        return True
    log.warning("hand-off not published (%s); waiting for Redis", type(first.error).__name__)
    _await_redis()
    with best_effort("the caller keeps or requeues the work", lost) as again:
        publish()
    if not again.failed:
        return True
    log.warning("hand-off not published again (%s)", type(again.error).__name__)
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


def fleet_task(
    message: type[M], record: Record, *, failed: str | int = "failed"
) -> Callable[[Step[M]], Task]:
    """Register ``step`` as the task of ``message.TASK``, under syncer's one task policy.

    In order: a body newer than this worker reads is requeued for a newer
    one; a task of an unknown or cancelled plan is dropped unrun; the body is
    decoded (inside the try: one that does not decode fails like any bad
    input); Redis errors become :class:`StateError`; a cancellation mid-step
    just ends the task; any other error is retried or recorded by
    ``record`` (see :func:`_retry_or_record`). ``failed`` is what the task
    returns when it did not run to the end (0 for the tasks that count).
    """

    def register(step: Step[M]) -> Task:
        def run(self: Task, **body: Any) -> Any:
            require_version(self, message, body)
            refused = _refused(self, body.get("plan"))
            if refused:
                return refused if isinstance(failed, str) else failed
            f = fleet()
            try:
                msg = message.from_body(body)
                with _state_errors():
                    return step(self, f, msg)
            except CancelledError:
                return "cancelled" if isinstance(failed, str) else failed
            except TaskPredicate:
                raise  # a retry or requeue the step asked for
            except Exception as exc:
                _retry_or_record(self, exc, lambda reason: record(f, body, reason))
                return failed

        # Not functools.wraps: Celery checks arguments against the signature it sees.
        run.__doc__, run.__name__, run.__qualname__ = step.__doc__, step.__name__, step.__name__
        return app.task(name=message.TASK, bind=True)(run)

    return register


def _handed_back(task: Task, msg: CopyBlob | CopyBlobs, size: int, priority: int) -> bool:
    """Hand a copy back to the shared queue if this worker's link is busy and a peer's is idle.

    Not to the peer's own queue: a worker that dies in between would strand the
    copy there.
    """
    me = task.request.hostname or ""
    if not links.should_hand_back(size, msg.deferred) or links.idle_peer(fleet().redis, me) is None:
        return False
    again = dataclasses.replace(msg, deferred=msg.deferred + 1)
    # Unpublished, the copy stays here: this worker takes it itself.
    return _confirmed(lambda: task.apply_async(kwargs=again.to_body(), priority=priority))


# -- recording a failure from the body as received ----------------------------------
def _expand_failed(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    rule = body.get("rule")
    results.expand_failed(f, body["plan"], rule if isinstance(rule, Mapping) else {}, reason)


def _tags_failed(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    jobs = body.get("jobs")
    for job in jobs if isinstance(jobs, list) else []:
        source, dest, rule = (_field(job, k) for k in ("source", "dest", "rule"))
        results.tag_failed(f, body["plan"], source, dest, rule, reason)


def _tag_failed(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    source, dest, rule = (_field(body, k) for k in ("source", "dest", "rule"))
    results.tag_failed(f, body["plan"], source, dest, rule, reason)


def _blob_failed(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    msg = CopyBlob.from_body(body)
    blobsteps.blob_failed(f, msg.plan, msg.dst, msg.descriptor, reason)


def _hand_back_unlanded(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    """Out of retries (Redis kept failing): the blobs that did not land get copy_blob tasks.

    None is recorded failed from here.
    """
    msg = CopyBlobs.from_body(body)
    src, dst, descs = Repository.parse(msg.src), Repository.parse(msg.dst), msg.descriptors
    if not _confirmed(lambda: blobsteps.hand_back_unlanded(f, msg.plan, src, dst, descs)):
        raise _requeue(f"hand-back of {len(descs)} blobs") from None


def _verify_rule_failed(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    rule = body.get("rule")
    prune = bool(body.get("prune"))
    verifysteps.rule_failed(f, body["plan"], rule if isinstance(rule, dict) else {}, prune, reason)


def _verify_tags_failed(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    jobs = body.get("jobs")
    listed = [j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []
    verifysteps.tags_failed(f, body["plan"], listed, reason)


def _image_failed(f: FleetContext, body: Mapping[str, Any], reason: str) -> None:
    results.fail_image(f, body["plan"], _field(body, "image"), reason)


def _settle_errors(
    task: Task, f: FleetContext, plan: str, errors: list[tuple[TagJob, Exception]]
) -> Counter[str]:
    """The images of a batch whose check failed: hand each on or record it; count what was done.

    A Redis error is raised (the batch is retried as a whole), before any
    image is handed on; a transient error hands the image on as its own
    ``sync_tag`` task; any other error is that image's recorded failure.
    """
    for _, error in errors:
        if isinstance(error, StateError):
            raise error
    outcomes: Counter[str] = Counter()
    for job, error in errors:
        if isinstance(error, SyncerError) and is_transient(error):
            single = enqueue.sync_tag_message(plan, job)
            if not _confirmed(functools.partial(enqueue.send, f.dispatch, single)):
                raise _requeue(f"hand-off of {job.label}") from None
            outcomes["handed on"] += 1
            continue
        if isinstance(error, SyncerError):
            reason = describe(error) + _auth_hint(task, error)
        else:
            log.error(
                "task %s[%s]: %s failed", task.name, task.request.id, job.label, exc_info=error
            )
            reason = f"internal error: {type(error).__name__}"
        _tag_failed(f, {"plan": plan, **job.to_dict()}, reason)
        outcomes["failed"] += 1
    return outcomes


# -- the tasks -------------------------------------------------------------------------
@fleet_task(ExpandRule, _expand_failed, failed=0)
def expand_rule(task: Task, f: FleetContext, msg: ExpandRule) -> int:
    """List a rule's tags and enqueue one sync_tag per image."""
    return tagsteps.expand(f, msg)


@fleet_task(EnqueueTags, _tags_failed, failed=0)
def enqueue_tags(task: Task, f: FleetContext, msg: EnqueueTags) -> int:
    """Publish one chunk of a large fan-out as sync_tag tasks."""
    return tagsteps.enqueue_tags(f, msg)


@fleet_task(SyncTag, _tag_failed)
def sync_tag(task: Task, f: FleetContext, msg: SyncTag) -> str:
    """Resolve one image (HEADs first) and fan out its missing blobs."""
    # Parsed here: a bad reference is recorded as this image's failure.
    job = TagJob(
        ImageRef.parse(msg.source),
        ImageRef.parse(msg.dest),
        msg.rule,
        platform_list(list(msg.platforms)) if msg.platforms else (),
    )
    return tagsteps.sync_tag(f, msg.plan, job, owner=task.request.id or "", referrer=msg.referrer)


@fleet_task(SyncTags, _tags_failed)
def sync_tags(task: Task, f: FleetContext, msg: SyncTags) -> str:
    """Resolve a batch of images (HEADs first, several at once) and fan out their missing blobs.

    An image whose resolve failed is handled alone: a transient error goes
    back to the queue as its own ``sync_tag`` task (which has the retry
    policy), any other is recorded as that image's failure. A Redis error
    fails the whole batch, which its retry redoes (every step is idempotent).
    """
    jobs: list[TagJob] = []
    for body in msg.jobs:
        try:
            jobs.append(TagJob.from_dict(body))
        except SyncerError as exc:  # a reference that does not parse
            _tag_failed(f, {"plan": msg.plan, **body}, describe(exc))
        except (KeyError, TypeError, ValueError) as exc:
            _tag_failed(f, {"plan": msg.plan, **body}, f"bad job: {type(exc).__name__}")
    outcomes, errors = tagsteps.sync_tags(f, msg.plan, jobs, owner=task.request.id or "")
    outcomes.update(_settle_errors(task, f, msg.plan, errors))
    # Flower shows a task's result: how each of its images ended.
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))


@fleet_task(CopyBlob, _blob_failed)
def copy_blob(task: Task, f: FleetContext, msg: CopyBlob) -> str:
    """Stream one blob from ``src`` to ``dst`` (or mount it), once for the fleet."""
    me = task.request.hostname or ""
    if _handed_back(task, msg, msg.size, settings.blob_priority(msg.size)):
        # Results keep their first words ("deferred", "handed_on"): Flower shows them.
        return "deferred"
    src, dst, desc = Repository.parse(msg.src), Repository.parse(msg.dst), msg.descriptor
    try:
        with links.streaming(msg.size, f.redis, me, pause_intake=True):
            owner = task.request.id or "unknown"
            return blobsteps.copy_blob(f, msg.plan, src, dst, desc, owner=owner)
    except blobsteps.BusyError:
        # Look again shortly, as a fresh task: waiting must not eat the retry
        # budget for real errors, nor hold a worker slot.
        again = dataclasses.replace(msg, waited=msg.waited + 1)
        countdown = min(BUSY_MAX, BUSY_FIRST * 2**msg.waited)
        priority = settings.blob_priority(msg.size)
        if not _confirmed(
            lambda: task.apply_async(kwargs=again.to_body(), countdown=countdown, priority=priority)
        ):
            raise _requeue(f"busy re-check of {msg.digest[:19]}") from None
        return "busy"


@fleet_task(CopyBlobs, _hand_back_unlanded)
def copy_blobs(task: Task, f: FleetContext, msg: CopyBlobs) -> str:
    """Copy several small blobs of one image, ``defaults.TASK_THREADS`` at a time."""
    me = task.request.hostname or ""
    descs = msg.descriptors
    total = sum(max(d.size, 0) for d in descs)
    if _handed_back(task, msg, total, BATCH_PRIORITY):
        return "deferred"
    src, dst = Repository.parse(msg.src), Repository.parse(msg.dst)
    with links.streaming(total, f.redis, me):
        handed_back = blobsteps.copy_batch(
            f, msg.plan, src, dst, descs, owner=task.request.id or ""
        )
    return "handed_on" if handed_back else "copied"


@fleet_task(PushImage, _image_failed)
def push_image(task: Task, f: FleetContext, msg: PushImage) -> str:
    """Push an image's manifests once all its blobs have landed."""
    return tagsteps.push_image(f, msg)


@fleet_task(VerifyRule, _verify_rule_failed, failed=0)
def verify_rule(task: Task, f: FleetContext, msg: VerifyRule) -> int:
    """List a rule, find its extra tags, and check its images (or send them out to be checked)."""
    return verifysteps.verify_rule(f, msg)


@fleet_task(VerifyTags, _verify_tags_failed, failed=0)
def verify_tags(task: Task, f: FleetContext, msg: VerifyTags) -> int:
    """Check a batch of images by HEAD and record each one's row."""
    return verifysteps.verify_tags(f, msg)
