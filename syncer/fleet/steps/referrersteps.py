"""Referrers in the fleet: each one is a ``sync_tag`` task like any other image.

:func:`follow` runs in ``sync_tag`` once an image is resolved: the referrers
:class:`~syncer.engine.referrers.Follower` finds become ``sync_tag`` messages whose
``referrer`` field (version 3) says what they are, counted in the plan's
``tags_total`` once per plan (once-token ``referrer:{image}``), so a
redelivered task neither counts nor sends one twice. :func:`pushed` runs in
``push_image``: a referrer landed at a destination without the referrers
API is merged into its subject's fallback index under the fleet-wide lock
``inflight:{registry}:{repo}:{alg}-{hex}``, so two workers never lose each
other's entry.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from syncer import defaults
from syncer.engine.copypath import Resolved
from syncer.engine.jobs import TagJob
from syncer.engine.referrers import Follower, Found, Guard, ReferrerPolicy, root_of
from syncer.engine.referrertally import charge
from syncer.errors import DeadlineError
from syncer.fleet.protocol import keys
from syncer.fleet.protocol.keys import image_id
from syncer.fleet.protocol.messages import SyncTag
from syncer.fleet.state.guard import guard
from syncer.fleet.steps.context import FleetContext
from syncer.fleet.steps.enqueue import send
from syncer.oci.reference import Repository
from syncer.registry.referrers import fallback_tag

#: None for a plan that copies no referrers, so its meta is read once per worker.
_followers: OrderedDict[tuple[str, int], Follower | None] = OrderedDict()
_lock = threading.Lock()


def plan_meta(
    referrers: bool, types: tuple[str, ...], rules: dict[str, list[str]]
) -> dict[str, Any]:
    """The plan metadata fields the referrer steps read (empty when nothing follows referrers)."""
    if not referrers and not rules:
        return {}
    return {"referrers": {"enabled": referrers, "types": list(types), "rules": rules}}


def follower(fleet: FleetContext, plan: str) -> Follower | None:
    """This worker's follower for ``plan``, or None when the plan copies no referrers."""
    key = (plan, id(fleet.pool))
    with _lock:
        if key in _followers:
            _followers.move_to_end(key)
            return _followers[key]
    conf = fleet.plans.meta(plan).get("referrers")
    made = None
    if isinstance(conf, dict):
        policy = ReferrerPolicy(bool(conf.get("enabled")), tuple(conf.get("types") or ()))
        rules = dict(conf.get("rules") or {})
        tally = RedisTally(fleet, plan)
        made = Follower(
            fleet.pool, policy, rules, guard=_guard(fleet), marks=fleet.cache, tally=tally
        )
    with _lock:
        _followers[key] = made
        while len(_followers) > defaults.REFERRER_FOLLOWERS_KEPT:
            _followers.popitem(last=False)
    return made


def follow(fleet: FleetContext, plan: str, job: TagJob, res: Resolved, referrer: str) -> int:
    """Send a ``sync_tag`` for each referrer of a resolved image; return how many were new."""
    found_by = follower(fleet, plan)
    if found_by is None:
        return 0
    itself = Found.from_text(referrer) if referrer else None
    new = []
    for ref, found in found_by.find(job, res, itself).items():
        token = keys.once_referrer(image_id(str(ref.source), str(ref.dest)))
        if not fleet.redis.sismember(keys.plan_once(plan), token):
            new.append((ref, found, token))
    # Charged before sending, so an image past its cap sends nothing more; a
    # redelivered task charges again, which errs on the side of the cap.
    charge(found_by.tally, root_of(job, itself), len(new))
    for ref, found, token in new:
        # Sent, then counted: a worker killed in between sends it again on
        # redelivery (a second task of one image changes nothing), where
        # counting first left a referrer counted and never sent, and its plan
        # open for ever. The subject is not settled yet, so the plan cannot
        # end before the count.
        send(
            fleet.dispatch,
            SyncTag(plan, str(ref.source), str(ref.dest), ref.rule, referrer=found.to_text()),
        )
        fleet.ledger.count_once(plan, token, tags_total=1)
    return len(new)


def admit(fleet: FleetContext, plan: str, job: TagJob, referrer: str) -> None:
    """Refuse a referrer whose image already passed its cap, before any request."""
    found_by = follower(fleet, plan) if referrer else None
    if found_by is not None:
        found_by.admit(job, Found.from_text(referrer))


class RedisTally:
    """Referrer jobs per root image of one plan, in the hash ``plan:{plan}:referrers``."""

    def __init__(self, fleet: FleetContext, plan: str) -> None:
        self._fleet, self._plan = fleet, plan

    def add(self, root: str, count: int) -> int:
        """Count ``count`` more for ``root`` (0 only reads); return the fleet-wide total."""
        key, redis = keys.plan_referrers(self._plan), self._fleet.redis
        with guard("referrer tally"):
            if not count:
                return int(redis.hget(key, root) or 0)
            pipe = redis.pipeline()
            pipe.hincrby(key, root, count)
            pipe.expire(key, self._fleet.plans.ttl_for(self._plan))
            total, _ = pipe.execute()
        return int(total)


def pushed(fleet: FleetContext, plan: str, job: TagJob, referrer: str) -> None:
    """After a referrer landed: list it in its subject's fallback index where needed."""
    if not referrer:
        return
    found_by = follower(fleet, plan)
    if found_by is not None:
        found_by.pushed(job, Found.from_text(referrer))


def _guard(fleet: FleetContext) -> Guard:
    """The fleet-wide lock on one fallback index, waited for up to ``REFERRER_MERGE_WAIT``."""

    @contextmanager
    def hold(repo: Repository, subject: str) -> Iterator[None]:
        name = f"{repo.path}:{fallback_tag(subject)}"
        owner = f"{threading.get_ident()}-{time.monotonic_ns()}"
        deadline = time.monotonic() + defaults.REFERRER_MERGE_WAIT
        while True:
            with fleet.locks.hold(repo.registry, name, owner) as got:
                if got:
                    yield
                    return
            if time.monotonic() > deadline:
                raise DeadlineError(f"{repo}:{fallback_tag(subject)}: another worker holds it")
            time.sleep(0.1)

    return hold
