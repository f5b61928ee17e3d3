"""syncer's one boundary with Celery and kombu: sending tasks, and the broker transport.

:class:`CeleryDispatcher` sends tasks by name (the planner and the workers
both use it; neither imports the other's code). :func:`celery_app` builds the
send-only app of the planner. The rest of this module is the transport:
kombu's Redis transport with one redis-py client per pool instead of per command.

kombu's Redis channel builds a new ``redis.Redis`` object for every command it
sends outside the consumer loop: each publish, acknowledgement and task event.
With redis-py 8 that constructor costs about 0.3-0.6 ms of CPU (it rebuilds
its table of response callbacks), which was about a tenth of a worker's CPU in
the bench's loopback plan profile (``CaseInsensitiveDict`` and
``Channel.conn_or_acquire`` near the top). A ``redis.Redis`` object holds no
per-command state and is safe to share between threads (each command borrows
a connection from the pool), so this channel keeps one per pool.

Only the synchronous client is shared. The asynchronous one, which the
consumer loop drives by hand (it assigns ``client.connection``), is already
created once per channel by kombu.

A Redis restart must not cost a task: :class:`QoS` requeues the messages a
lost connection could not give back while Redis was down, and a channel of
that lost connection fails with a connection error, which Celery survives,
instead of an ``AttributeError``, which killed the worker.

Celery loads the transport by name (``broker_transport`` in
:func:`syncer.fleet.protocol.settings.celery_config`). The engine never imports this
module; the CLI imports it only for ``syncer plan``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from syncer.defaults import TAG_BATCH
from syncer.fleet.protocol import keys, redisclient, settings
from syncer.fleet.state.guard import best_effort

log = logging.getLogger(__name__)

#: Delivery tags a lost connection could not give back to the queue (Redis was
#: down), to requeue through the next channel that reaches Redis.
_stranded: set[str] = set()
_stranded_lock = threading.Lock()


class QoS(kombu_redis.QoS):
    """kombu's Redis acknowledgement emulation, without stranding deliveries on a restart.

    When a worker's connection drops, kombu puts the messages it had taken
    but not acknowledged (running, prefetched, waiting for their countdown)
    back on the queue. With Redis itself down that fails, and they stay in
    the unacked hash until the visibility timeout, hours later: a busy
    re-check or a hand-off caught by a restart sat there and the plan never
    ended. Their tags are kept here and requeued once Redis answers again.
    """

    def restore_unacked(self, client: Any = None) -> Any:
        tags = [str(tag) for tag in self._delivered]
        try:
            return super().restore_unacked(client)  # type: ignore[no-untyped-call]
        except (redis.RedisError, OSError):
            with _stranded_lock:
                _stranded.update(tags)
            raise


class Channel(kombu_redis.Channel):
    """A kombu Redis channel that reuses its synchronous client."""

    QoS = QoS
    _shared_client: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]  # connects: Redis answers
        self._requeue_stranded()

    def _requeue_stranded(self) -> None:
        """Requeue what a lost connection could not (a task acknowledged since is left alone)."""
        with _stranded_lock:
            tags = sorted(_stranded)
        for tag in tags:
            with best_effort("the next channel tries", OSError) as attempt:
                self.qos.restore_by_tag(tag)
            if attempt.failed:
                return  # Redis went away again
            with _stranded_lock:
                _stranded.discard(tag)
        if tags:
            log.warning("requeued %d message(s) stranded by a lost Redis connection", len(tags))

    def _connparams(self, asynchronous: bool = False) -> Any:
        # kombu passes the timeouts of transport_options() but no retry: add
        # the one policy, or redis-py's default (10 retries) applies.
        params = super()._connparams(asynchronous)  # type: ignore[no-untyped-call]
        params["retry"] = redisclient.retry()
        return params

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        transport = self.connection
        if transport is None or transport.client is None:
            # A channel of a connection lost to a Redis restart: Celery still
            # closes it and acks its late messages through it, and kombu would
            # then raise AttributeError building a pool from the detached
            # connection. That is not a connection error, so the worker died of
            # it ("Unrecoverable error"), killing the copies it was running.
            # As a connection error it is logged, and the message stays unacked.
            raise redis.ConnectionError("broker channel closed after a connection loss")
        pool = self.pool
        client = self._shared_client
        # kombu replaces the pool after a connection loss; follow it.
        if client is None or client.connection_pool is not pool:
            client = super()._create_client(asynchronous=False)  # type: ignore[no-untyped-call]
            self._shared_client = client
        return client


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


def keep_held(client: Any, tags: Iterable[str], now: float | None = None) -> int:
    """Re-stamp deliveries this worker still holds, so kombu does not hand them out again.

    kombu restores a delivery once its score in :func:`keys.unacked_index`
    is older than the visibility timeout. ``XX`` touches only deliveries still
    unacknowledged: one acknowledged or restored meanwhile is not brought back.
    Returns how many were re-stamped.
    """
    stamps = dict.fromkeys(tags, time.time() if now is None else now)
    if not stamps:
        return 0
    return int(client.zadd(keys.unacked_index(), stamps, xx=True, ch=True))


class CeleryDispatcher:
    """Sends tasks by name through a Celery app (any object with ``send_task``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def send(self, name: str, kwargs: dict[str, Any], priority: int | None = None) -> None:
        """Enqueue ``name`` with JSON ``kwargs``; Flower shows :func:`summarize_kwargs`."""
        options: dict[str, Any] = {"kwargsrepr": summarize_kwargs(kwargs)}
        if priority is not None:
            options["priority"] = priority
        self.app.send_task(name, kwargs=kwargs, **options)


def summarize_kwargs(kwargs: dict[str, Any]) -> str:
    """``key=value`` pairs a person can read in Flower, a rule as ``source -> dests``."""
    parts = []
    for key, value in kwargs.items():
        if isinstance(value, dict) and "destinations" in value:
            dests = ", ".join(str(d.get("repo", "")) for d in value.get("destinations", []))
            value = f"{value.get('key', '')} -> {dests}"
        elif (
            isinstance(value, list)
            and value
            and isinstance(value[0], dict)
            and "digest" in value[0]
        ):
            value = f"{len(value)} blobs: " + ", ".join(
                f"{b.get('digest')} size={b.get('size')}" for b in value
            )
        elif isinstance(value, list) and 0 < len(value) <= TAG_BATCH and isinstance(value[0], dict):
            value = f"{len(value)} images: " + ", ".join(
                f"{j.get('source')} -> {j.get('dest')}" for j in value
            )
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            first, last = value[0], value[-1]
            value = (
                f"{len(value)} images ({first.get('source')} -> {first.get('dest')} … "
                f"{last.get('source')} -> {last.get('dest')})"
            )
        parts.append(f"{key}={value}")
    return " ".join(parts)


def celery_app(url: str) -> Any:
    """A send-only Celery app with syncer's settings."""
    import celery  # only the planner needs an app of its own, and only to send

    app = celery.Celery("syncer-planner")
    app.conf.update(settings.celery_config(url))
    return app
