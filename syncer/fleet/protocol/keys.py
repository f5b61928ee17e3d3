"""Every Redis key the fleet uses, and the once-tokens of a plan's guard set: one home.

A key's exact spelling is a contract between the planner and every worker
on one Redis, old and new: renaming one breaks a fleet mid-upgrade, so each
is written here once and pinned by ``tests/unit/fleet/test_keys.py``. All of syncer's
keys sit under :data:`NAMESPACE`; :func:`unacked_index` is kombu's.

::

    syncer:
    ├── plan:{plan}:meta                  string  JSON metadata, the record  plans.PlanStore
    ├── plan:{plan}:counters              hash    progress counters
    ├── plan:{plan}:results               list    JSON image results
    ├── plan:{plan}:cancelled             string  present once cancelled
    ├── plan:{plan}:once                  set     once-tokens (below)
    ├── plan:{plan}:ended                 string  when the plan finished
    ├── plan:{plan}:image:{image}         hash    an image's push record     images.PlanImages
    ├── plan:{plan}:pending:{image}       set     blobs the image waits for
    ├── plan:{plan}:waiters:{blob}        set     images waiting for a blob
    ├── plan:{plan}:landed                set     blobs that landed
    ├── plan:{plan}:blobfailed            hash    blob -> why it failed
    ├── plan:{plan}:claims                hash    blob -> the task that claimed its copy
    ├── plan:{plan}:checks                list    JSON verify checks         checks.CheckStore
    ├── plan:{plan}:prune                 list    JSON prune candidates of each rule
    ├── plan:{plan}:pruning               string  rules yet to send their candidates
    ├── plan:{plan}:refused               string  why a prune deleted nothing
    ├── plan:{plan}:referrers             hash    image -> referrers handed out  referrersteps
    ├── blobs:{registry}:{repo}           set     digests in a repository    blobcache
    ├── blobrepos:{registry}:{digest}     set     repositories holding it (mounts)
    ├── inflight:{registry}:{digest}      string  who uploads the blob now   locks
    ├── conn:{registry}                   zset    connection leases
    ├── backoff:{registry}                string  paused until (a 429)
    ├── upload:{repo}@{digest}            string  resumable upload session   uploads
    ├── workers                           hash    node -> heartbeat          roster
    ├── plans                             zset    plan -> created (history)  history
    ├── epoch                             string  this dataset's stamp       liveness
    ├── schedules                         hash    name -> JSON definition    schedules
    ├── schedule:{name}:runs              hash    last run, plan, skips
    ├── schedule:{name}:starting          string  one start at a time
    ├── redbeat:{name}                    hash    redbeat's entry            beat (redbeat's)
    ├── redbeat::schedule                 zset    entries by when due
    ├── redbeat::lock                     string  the one running beat
    ├── links:alive                       zset    node -> last seen          links
    └── links:busy                        zset    node -> large stream began
    unacked_index                         zset    kombu's deliveries by when last held
    unacked                               hash    kombu's deliveries a worker holds
    celery, celery:N                      list    the task queues, by priority step

    once-tokens in plan:{plan}:once: expand:{rule}  finished:{image}:{rule}
    seen:{blob}  landed:{blob}  failed:{blob}  bytes:{registry}@{digest}
    settled:{registry}@{digest}  referrer:{image}  verify:{rule}  prune:{rule}
    verified:{image}

``inflight:{registry}:{repo}:{alg}-{hex}`` also locks a referrers fallback
index tag while a worker merges it (``referrersteps``).

``{blob}`` is :func:`blob_key` and ``{image}`` is :func:`image_id`.
"""

from __future__ import annotations

import hashlib

#: The prefix of every key syncer writes.
NAMESPACE = "syncer:"


def blob_key(dest_repo: str, digest: str) -> str:
    """``registry/repo@digest``: one blob in one destination repository."""
    return f"{dest_repo}@{digest}"


def image_id(source: str, dest: str) -> str:
    """A stable id for one (source, dest) pair, so redelivery finds the same record."""
    return hashlib.sha256(f"{source}\n{dest}".encode()).hexdigest()[:16]


# -- one plan's keys -------------------------------------------------------------------
def _plan(plan: str, rest: str) -> str:
    return f"{NAMESPACE}plan:{plan}:{rest}"


def plan_meta(plan: str) -> str:
    """The plan's JSON metadata (its existence says the plan is known)."""
    return _plan(plan, "meta")


def plan_counters(plan: str) -> str:
    """The plan's progress counters."""
    return _plan(plan, "counters")


def plan_results(plan: str) -> str:
    """The plan's final image results, in the order they were recorded."""
    return _plan(plan, "results")


def plan_cancelled(plan: str) -> str:
    """Present once the plan was cancelled."""
    return _plan(plan, "cancelled")


def plan_once(plan: str) -> str:
    """The set of once-tokens that guards the plan's counters on redelivery."""
    return _plan(plan, "once")


def plan_ended(plan: str) -> str:
    """When the plan finished: its clock stops there."""
    return _plan(plan, "ended")


def plan_keys(plan: str) -> tuple[str, ...]:
    """The plan's long-lived keys, whose expiry every update pushes back."""
    return (
        plan_meta(plan),
        plan_counters(plan),
        plan_results(plan),
        plan_cancelled(plan),
        plan_once(plan),
        plan_ended(plan),
    )


def plan_working_keys(plan: str) -> tuple[str, ...]:
    """The plan's working keys, which nothing reads once every image is settled."""
    return (plan_once(plan), blob_claims(plan), blobs_landed(plan), blobs_failed(plan))


def plan_checks(plan: str) -> str:
    """A verify plan's checks (and a prune's final rows), as JSON."""
    return _plan(plan, "checks")


def plan_prune(plan: str) -> str:
    """Each prune rule's decided candidates, kept digests and protected digests, as JSON."""
    return _plan(plan, "prune")


def plan_pruning(plan: str) -> str:
    """How many prune rules have yet to send their candidates."""
    return _plan(plan, "pruning")


def plan_refused(plan: str) -> str:
    """Why a plan's prune deleted nothing (``--prune-max``)."""
    return _plan(plan, "refused")


def image_record(plan: str, image: str) -> str:
    """An image's stored push record, and its ``final`` flag."""
    return _plan(plan, f"image:{image}")


def image_pending(plan: str, image: str) -> str:
    """The blobs an image still waits for."""
    return _plan(plan, f"pending:{image}")


def blob_waiters(plan: str, blob: str) -> str:
    """The images waiting for one blob (:func:`blob_key`)."""
    return _plan(plan, f"waiters:{blob}")


def blobs_landed(plan: str) -> str:
    """The blobs that landed in this plan."""
    return _plan(plan, "landed")


def blobs_failed(plan: str) -> str:
    """Blob -> why its copy failed, so late waiters fail at once."""
    return _plan(plan, "blobfailed")


def blob_claims(plan: str) -> str:
    """Blob -> the task that claimed its copy (named apart from the set it replaced)."""
    return _plan(plan, "claims")


def plan_referrers(plan: str) -> str:
    """Referrer jobs handed out per root image (``source -> dest``), against its cap."""
    return _plan(plan, "referrers")


# -- fleet-wide keys -------------------------------------------------------------------
def cached_blobs(registry: str, repo: str) -> str:
    """The digests known to be in one destination repository."""
    return f"{NAMESPACE}blobs:{registry}:{repo}"


def repos_holding(registry: str, digest: str) -> str:
    """The repositories of one registry known to hold a digest (to mount from)."""
    return f"{NAMESPACE}blobrepos:{registry}:{digest}"


def inflight_lock(registry: str, digest: str) -> str:
    """Who uploads a blob to a registry right now."""
    return f"{NAMESPACE}inflight:{registry}:{digest}"


def connection_leases(registry: str) -> str:
    """The fleet's connection leases to one registry."""
    return f"{NAMESPACE}conn:{registry}"


def backoff(registry: str) -> str:
    """Until when the fleet leaves a registry alone (it answered 429)."""
    return f"{NAMESPACE}backoff:{registry}"


def upload_session(repo: str, digest: str) -> str:
    """The session URL of an unfinished chunked upload of ``digest`` to ``repo``."""
    return f"{NAMESPACE}upload:{repo}@{digest}"


def roster() -> str:
    """The workers' heartbeats: node name -> JSON."""
    return f"{NAMESPACE}workers"


def links_alive() -> str:
    """Workers by when they last said they were up (for idle peers)."""
    return f"{NAMESPACE}links:alive"


def links_busy() -> str:
    """Workers by when their link began carrying a large blob."""
    return f"{NAMESPACE}links:busy"


def plan_index() -> str:
    """Every plan by when it was created, for ``syncer plans`` (pruned as plans expire)."""
    return f"{NAMESPACE}plans"


def epoch() -> str:
    """This Redis dataset's epoch: created once, so a Redis that started over has a new one."""
    return f"{NAMESPACE}epoch"


def schedules() -> str:
    """Schedule name -> its JSON definition (rules, options, timing; never credentials)."""
    return f"{NAMESPACE}schedules"


def schedule_runs(name: str) -> str:
    """A schedule's last run, last plan and skips."""
    return f"{NAMESPACE}schedule:{name}:runs"


def schedule_starting(name: str) -> str:
    """Held while a schedule decides whether to start a plan, so two ticks never both do."""
    return f"{NAMESPACE}schedule:{name}:starting"


def redbeat_prefix() -> str:
    """celery-redbeat's ``redbeat_key_prefix``: its entries, due-times zset and lock sit here."""
    return f"{NAMESPACE}redbeat:"


def redbeat_lock() -> str:
    """redbeat's lock (``{prefix}:lock``): held, and renewed every loop, by the sending beat."""
    return redbeat_prefix() + ":lock"


def unacked() -> str:
    """kombu's hash of the deliveries workers hold (``acks_late``: until the task ends)."""
    return "unacked"


def task_queues() -> str:
    """A SCAN pattern for Celery's queue lists: ``celery`` and its priority steps (``celery:N``)."""
    return "celery*"


def unacked_index() -> str:
    """kombu's sorted set of unacknowledged deliveries, scored by when each was last held.

    kombu's own default name, stated so the transport options and the
    workers' re-stamping (``fleet/broker.py``) name the same key.
    """
    return "unacked_index"


# -- once-tokens: members of plan_once(plan), each counted once per plan ---------------
def once_expand(rule: str) -> str:
    """A rule was expanded (or failed to)."""
    return f"expand:{rule}"


def once_finished(image: str, rule: str) -> str:
    """An image of a rule was finished."""
    return f"finished:{image}:{rule}"


def once_seen(blob: str) -> str:
    """A blob (:func:`blob_key`) was counted into the plan's totals."""
    return f"seen:{blob}"


def once_referrer(image: str) -> str:
    """A referrer (an :func:`image_id`) was sent as its own ``sync_tag`` task."""
    return f"referrer:{image}"


def once_landed(blob: str) -> str:
    """A blob landed and was counted done."""
    return f"landed:{blob}"


def once_failed(blob: str) -> str:
    """A blob failed and was counted failed."""
    return f"failed:{blob}"


def once_bytes(registry: str, digest: str) -> str:
    """A digest's size was counted into the byte total of a registry."""
    return f"bytes:{registry}@{digest}"


def once_settled(registry: str, digest: str) -> str:
    """A digest's first outcome in a registry was counted."""
    return f"settled:{registry}@{digest}"


def once_verify(rule: str) -> str:
    """A rule was verified (or pruned): its rows counted and its pending rule settled."""
    return f"verify:{rule}"


def once_prune(rule: str) -> str:
    """A rule's prune candidates were sent."""
    return f"prune:{rule}"


def once_verified(image: str) -> str:
    """An image (:func:`image_id`) was checked and its row recorded."""
    return f"verified:{image}"
