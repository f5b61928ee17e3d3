"""Celery's Redis broker transport, with one redis-py client per pool instead of per command.

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

Celery loads this module by name (``broker_transport`` in
:func:`syncer.fleet.settings.celery_config`); nothing else imports it.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """A kombu Redis channel that reuses its synchronous client."""

    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
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
