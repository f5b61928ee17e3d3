"""``--redis URL`` and the one way commands reach the fleet's Redis: pinged, password masked."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from syncer import defaults
from syncer.errors import ConfigError, RedisUnreachableError
from syncer.fleet.protocol import settings

if TYPE_CHECKING:  # redis is imported only by the commands that talk to it
    import redis


def redis_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--redis URL`` (every command that talks to the fleet takes it)."""
    p.add_argument(
        "--redis",
        help="Redis URL (env SYNCER_REDIS_URL, or a file named by SYNCER_REDIS_URL_FILE; "
        f"default {defaults.REDIS_URL}); rediss:// and passwords work, "
        "but a password here shows in ps",
    )


def checked_url(url: str | None) -> str:
    """``--redis``, else the environment's or the default URL; one line if it cannot work.

    A missing ``SYNCER_REDIS_URL_FILE`` fails here too. The line never shows the password.
    """
    url = defaults.redis_url(url)
    problem = settings.redis_url_problem(url)
    if problem:
        raise ConfigError(f"Redis URL {safe_url(url)}: {problem}")
    return url


def connect(url: str | None) -> redis.Redis:
    """A Redis client, checked with a PING; errors never echo the URL's password."""
    import redis

    url = checked_url(url)
    from syncer.fleet.protocol.redisclient import connect as policy_client
    from syncer.fleet.protocol.redisclient import unreachable

    try:
        client = policy_client(url)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        password = urlsplit(url).password or ""
        raise RedisUnreachableError(unreachable(safe_url(url), exc, password)) from None
    return client


def redis_name(url: str | None) -> str:
    """``Redis at URL`` with the password masked, for messages."""
    return f"Redis at {safe_url(defaults.redis_url(url))}"


def safe_url(url: str) -> str:
    """``url`` with its ``user:password@`` masked, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url  # no scheme: a "user:password@" may still be there
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
