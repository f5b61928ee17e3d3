"""The fleet's one Redis client policy: timeouts, retries, outage lines, the eviction check.

redis-py retries a failed call 10 times by default, with backoff, so one call
to a Redis that is down took about 3.6 s, and the workers' and followers' own
"reconnecting" loops ran on top of that, at a pace nobody had chosen. Every
client syncer makes takes its settings from here: the CLI's and the workers'
(:func:`connect`), kombu's broker channels (:func:`transport_options` and
``fleet/broker.py``), Celery's result backend and redbeat's client
(``fleet/protocol/settings.py``, ``fleet/beat.py``). A call fails after
``REDIS_CONNECT_TIMEOUT`` at most when the host does not answer, at once when
it refuses, with one quick retry on a dropped connection; the loops that ride
out an outage (:class:`Outage`) then try every few seconds and say so.

The single retry is for connection errors only, never for a timeout: a timed
out command may have run, and running it twice is not harmless for every
command (the counting steps of ``fleet/state/ledger.py`` are; a plain increment is not).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from syncer.backoff import Backoff

# redis loads with the first client: the settings the CLI's parsers read
# import this module, and `syncer --version` need not pay for redis.
if TYPE_CHECKING:
    import redis
    from redis.retry import Retry

log = logging.getLogger(__name__)


#: Every Redis client syncer makes: seconds to connect, and to wait for one
#: reply (no call syncer makes blocks for long).
REDIS_CONNECT_TIMEOUT, REDIS_SOCKET_TIMEOUT = 5.0, 10.0
#: A failed connection is tried again this many times, REDIS_RETRY_DELAY s
#: apart, inside one call: once is enough for a pooled connection a restarted
#: Redis had closed. More would only delay the line that says Redis is away
#: (redis-py's own default, 10 with backoff, made one call take 3.6 s).
REDIS_RETRIES, REDIS_RETRY_DELAY = 1, 0.1
#: A connection idle this long is checked with a PING before it is used.
REDIS_HEALTH_CHECK = 30


def retry() -> Retry:
    """The retry policy of every client: ``REDIS_RETRIES`` quick retries of a dropped connection."""
    import redis
    from redis.backoff import ConstantBackoff
    from redis.retry import Retry

    return Retry(
        ConstantBackoff(REDIS_RETRY_DELAY),
        REDIS_RETRIES,
        supported_errors=(redis.ConnectionError,),
    )


def client_options() -> dict[str, Any]:
    """redis-py keyword arguments of every client syncer makes."""
    return {
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": REDIS_HEALTH_CHECK,
        "retry": retry(),
    }


def connect(url: str) -> redis.Redis:
    """A client of ``url`` under the policy (no call is made yet)."""
    import redis

    return redis.Redis.from_url(url, **client_options())


def transport_options() -> dict[str, Any]:
    """The same policy as kombu transport options (the retry is added by ``broker.Channel``)."""
    return {
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": REDIS_HEALTH_CHECK,
        "retry_on_timeout": False,
    }


def backend_settings() -> dict[str, Any]:
    """The same policy as Celery's result backend settings."""
    return {
        "redis_socket_timeout": REDIS_SOCKET_TIMEOUT,
        "redis_socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "redis_retry_on_timeout": False,
        "redis_backend_health_check_interval": REDIS_HEALTH_CHECK,
    }


#: While Redis is away, the workers and the followers of a plan try it again
#: after REDIS_RECONNECT_FIRST seconds, doubling up to REDIS_RECONNECT_MAX.
REDIS_RECONNECT_FIRST, REDIS_RECONNECT_MAX = 0.25, 4.0


def reconnect_delays() -> Iterator[float]:
    """Seconds to wait before each next try while Redis is away: doubling, capped."""
    return Backoff(REDIS_RECONNECT_FIRST, REDIS_RECONNECT_MAX).delays()


class Outage:
    """One line when Redis goes away, one when it is back: the same words in every process."""

    def __init__(self, where: str, say: Callable[[str], None]) -> None:
        self._where, self._say = where, say
        self._since: float | None = None

    @property
    def ongoing(self) -> bool:
        """Whether the outage was reported and has not ended."""
        return self._since is not None

    def began(self, error: BaseException) -> None:
        """Report the outage, once."""
        if self._since is None:
            self._since = time.monotonic()
            self._say(
                f"{self._where} unreachable ({type(error).__name__}); trying again every "
                f"{REDIS_RECONNECT_MAX:g}s at most"
            )

    def ended(self) -> None:
        """Report the end of a reported outage."""
        if self._since is not None:
            away = time.monotonic() - self._since
            self._since = None
            self._say(f"{self._where} is back after {away:.0f}s")


def unreachable(where: str, error: BaseException, password: str = "") -> str:
    """What a command says when its first call to Redis failed: why, and what to do.

    ``where`` is the URL with its password already masked; ``password`` is
    masked again in redis-py's own text, which names only host and port today.
    """
    import redis

    why = " ".join(str(error).split()) or type(error).__name__
    if password:
        why = why.replace(password, "***")
    refused = isinstance(error, redis.AuthenticationError | redis.exceptions.AuthorizationError)
    if refused or why.startswith(("NOAUTH", "WRONGPASS")):
        return (
            f"Redis at {where} refused the login ({why}): check the password in the URL "
            "(SYNCER_REDIS_URL, SYNCER_REDIS_URL_FILE or --redis)"
        )
    return (
        f"cannot reach Redis at {where} ({why}): start one (redis-server, or "
        "docker compose up -d redis) or point SYNCER_REDIS_URL (or --redis) at yours"
    )


#: Celery's advice for its Redis broker: evicting keys loses tasks and state.
_SAFE_POLICY = "noeviction"


def eviction_risk(client: redis.Redis) -> str:
    """A warning when Redis may evict keys (its ``maxmemory-policy``), else "".

    Read from ``INFO memory``, which managed Redis services allow where they
    refuse ``CONFIG GET``. A Redis that does not say is not warned about.
    """
    import redis

    try:
        policy = str(client.info("memory").get("maxmemory_policy", _SAFE_POLICY))
    except redis.RedisError as exc:
        log.debug("maxmemory-policy not read: %s", exc)
        return ""
    if policy == _SAFE_POLICY:
        return ""
    return (
        f"Redis maxmemory-policy is {policy!r}: under memory pressure Redis evicts keys, "
        "losing queued tasks and plan state (a plan then ends 'lost'); "
        "set maxmemory-policy noeviction, as Celery advises for its Redis broker"
    )
