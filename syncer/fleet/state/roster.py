"""Which workers are alive, and which registries their auth files hold credentials for.

Every worker writes a heartbeat into one Redis hash every
:data:`~syncer.defaults.HEARTBEAT_EVERY` seconds: its node name, and the keys of its auth
file's entries that carry a username (``quay.io``, ``harbor.example.com/team``).
Never a username, a password or a token: only what the operator already wrote
as a key. Times come from Redis's own clock, so hosts with skewed clocks agree.

The planner reads it to check credentials before it sends anything
(:func:`uncovered`): credentials never travel through Redis, so a rule whose
registry needs a login that no live worker has would fail every image with
a 401. ``plan --wait`` and ``status -f`` read it to say how many workers are
consuming the queue, and to say so when none is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from syncer import defaults
from syncer.config.rules import Rule
from syncer.fleet.protocol import keys
from syncer.oci.reference import Repository
from syncer.registry.credentials import AuthEntry, covering_key

log = logging.getLogger(__name__)


#: Roster entries older than this (seconds) are removed by whoever reads it,
#: so the hash does not keep every worker that ever ran; a day is far past
#: ALIVE_WINDOW, so no live worker is ever removed.
FORGET_AFTER = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker's last heartbeat."""

    node: str
    #: Auth-file keys with credentials (registry or registry/namespace), no secrets.
    auth: tuple[str, ...]
    #: Redis server time of the heartbeat, in seconds.
    seen: float

    def to_dict(self) -> dict[str, object]:
        """JSON primitives."""
        return {"node": self.node, "auth": list(self.auth), "seen": self.seen}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> WorkerInfo:
        """The inverse of :meth:`to_dict`."""
        auth = data.get("auth")
        seen = data.get("seen")
        return cls(
            str(data.get("node", "")),
            tuple(str(a) for a in auth) if isinstance(auth, list) else (),
            float(seen) if isinstance(seen, int | float) else 0.0,
        )


def credential_keys(entries: Mapping[str, AuthEntry]) -> tuple[str, ...]:
    """The keys of auth entries that carry a username: what a heartbeat may show."""
    return tuple(sorted(k for k, e in entries.items() if e.username is not None))


def _now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


class Roster:
    """The workers' heartbeats in Redis: a hash of node name -> JSON :class:`WorkerInfo`.

    Its calls raise ``redis.RedisError`` as it is: each caller has its own
    policy (the worker's heartbeat skips a beat Redis missed).
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def beat(self, node: str, auth: Iterable[str]) -> None:
        """Say ``node`` is alive, with the auth keys it holds."""
        info = WorkerInfo(node, tuple(auth), _now(self.client))
        self.client.hset(keys.roster(), node, json.dumps(info.to_dict()))

    def leave(self, node: str) -> None:
        """Forget ``node`` (a clean shutdown)."""
        self.client.hdel(keys.roster(), node)

    def alive(self) -> list[WorkerInfo]:
        """Workers heard from within ``defaults.ALIVE_WINDOW``; long-gone entries are pruned."""
        now = _now(self.client)
        found, stale = [], []
        for node, raw in self.client.hgetall(keys.roster()).items():
            try:
                info = WorkerInfo.from_dict(json.loads(raw))
            except (ValueError, TypeError):
                stale.append(node)
                continue
            if now - info.seen <= defaults.ALIVE_WINDOW:
                found.append(info)
            elif now - info.seen > FORGET_AFTER:
                stale.append(node)
        if stale:
            self.client.hdel(keys.roster(), *stale)
        return sorted(found, key=lambda w: w.node)


@dataclass(frozen=True, slots=True)
class Gap:
    """A repository the planner has credentials for and no live worker does."""

    repo: Repository
    key: str

    def __str__(self) -> str:
        return (
            f"registry {self.repo.registry}: the planner's auth has credentials for it "
            f"(key {self.key!r}), but no live worker's auth file does"
        )


def uncovered(
    rules: Iterable[Rule], planner_auth: Mapping[str, AuthEntry], workers: Iterable[WorkerInfo]
) -> list[Gap]:
    """Repositories of ``rules`` that need a credential no live worker holds.

    Only credentials the operator gave the planner are checked: a registry
    the planner has no login for may be public, or the workers' docker
    config may cover it.
    """
    mine = credential_keys(planner_auth)
    theirs = [k for w in workers for k in w.auth]
    gaps: dict[str, Gap] = {}
    for rule in rules:
        for repo in (rule.source, *(d.repo for d in rule.destinations)):
            key = covering_key(mine, repo)
            if key is not None and covering_key(theirs, repo) is None:
                gaps.setdefault(key, Gap(repo, key))
    return list(gaps.values())
