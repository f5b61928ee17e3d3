"""One :class:`~syncer.fleet.steps.context.FleetContext` per worker process, built on first use.

Credentials come from the worker's own auth file (``$SYNCER_AUTH_FILE``,
image-syncer's auth format, or a legacy config file) and docker's
``config.json``; they never travel through Redis or task arguments.

The auth file is looked at again (at most once a second) whenever a task
asks for the fleet: an edited file takes effect for the next task, without
a restart. A file that has gone, or no longer parses, makes every registry call fail
with a permanent :class:`~syncer.errors.ConfigError` naming the file, so
each image fails with that reason and the plan finishes instead of waiting.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import redis

from syncer import defaults
from syncer.config.files import load_auth
from syncer.errors import ConfigError
from syncer.fleet.broker import CeleryDispatcher
from syncer.fleet.protocol import redisclient
from syncer.fleet.state.locks import RedisThrottle
from syncer.fleet.state.roster import credential_keys
from syncer.fleet.steps.context import FleetContext
from syncer.oci.reference import Repository, normalize_registry
from syncer.registry.client import RegistryClient
from syncer.registry.credentials import AuthEntry, Credentials, keys_under
from syncer.registry.pool import ClientPool
from workers.app import app

log = logging.getLogger(__name__)


#: Look at the worker's auth file's metadata at most this often, in seconds: a
#: rotated secret is seen within a second, without a stat() per request.
AUTH_RECHECK = 1.0


_lock = threading.Lock()
_fleet: tuple[int, FleetContext, AuthFile] | None = None


class AuthFile:
    """The worker's auth file, reloaded when its metadata changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._problem = ""
        self.entries: Mapping[str, AuthEntry] = self._load() if path else {}

    def _load(self) -> Mapping[str, AuthEntry]:
        assert self.path is not None
        self._stamp = _stamp(self.path)
        return load_auth(self.path)

    def changed(self) -> bool:
        """Reload if the file changed since the last look; True if it did.

        Raises :class:`ConfigError` while the file is missing or invalid.
        """
        if self.path is None:
            return False
        now = time.monotonic()
        if now - self._checked < AUTH_RECHECK:
            if self._problem:
                raise ConfigError(self._problem)
            return False
        self._checked = now
        try:
            if _stamp(self.path) == self._stamp and not self._problem:
                return False
            self.entries = self._load()
        except (ConfigError, OSError) as exc:
            self._problem = _reason(self.path, exc)
            raise ConfigError(self._problem) from None
        self._problem = ""
        log.warning("auth file %s changed: credentials reloaded", self.path)
        return True


def _stamp(path: Path) -> tuple[int, int, int]:
    """What tells us the file changed: inode, size and modification time."""
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _reason(path: Path, exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"this worker's auth file {path} is gone (SYNCER_AUTH_FILE)"
    if isinstance(exc, OSError):
        return f"this worker cannot read its auth file {path}: {exc.strerror or exc}"
    return str(exc)


def fleet() -> FleetContext:
    """The process's fleet context (rebuilt after a fork), with current credentials."""
    global _fleet
    with _lock:
        if _fleet is None or _fleet[0] != os.getpid():
            auth = AuthFile(defaults.auth_file())
            _fleet = (os.getpid(), _build(auth.entries), auth)
        _, current, auth = _fleet
        try:
            changed = auth.changed()
        except ConfigError as exc:
            # Fail registry work, not the worker: every task still runs, checks
            # its plan and records this reason as the image's failure.
            if not isinstance(current.pool, _NoCredentials) or current.pool.reason != str(exc):
                current.pool, current.limits = _NoCredentials(str(exc)), {}
            return current
        if changed:
            current.pool = _pool(auth.entries, current.redis)
            current.limits = _limits(auth.entries)
        return current


class _NoCredentials(ClientPool):
    """The pool while the auth file is gone or broken: every registry call fails with why."""

    def __init__(self, reason: str) -> None:
        super().__init__(Credentials({}))
        self.reason = reason

    def for_repo(self, repo: Repository) -> RegistryClient:
        """Refuse: running without the worker's credentials would fail later, less clearly."""
        raise ConfigError(self.reason)


def auth_entries() -> Mapping[str, AuthEntry]:
    """The worker's current auth entries (reloaded if the file changed)."""
    current = fleet()
    assert _fleet is not None
    return {} if isinstance(current.pool, _NoCredentials) else _fleet[2].entries


def credential_note(url: str) -> str:
    """Whether this worker holds credentials for the registry of ``url``, for a 401/403 reason.

    Names auth-file keys only, never a username or secret.
    """
    registry = normalize_registry(urlsplit(url).netloc) if url else ""
    if not registry:
        return ""
    held = keys_under(credential_keys(auth_entries()), registry)
    if held:
        return f"this worker has credentials for {registry} (auth keys: {', '.join(held)})"
    return f"this worker has no credentials for {registry} in its auth file"


def _limits(entries: Mapping[str, AuthEntry]) -> dict[str, int]:
    return {k: e.max_connections for k, e in entries.items() if e.max_connections}


def _pool(entries: Mapping[str, AuthEntry], client: redis.Redis) -> ClientPool:
    # `syncer worker -p N` says N here; plain `celery worker -c N` does not, so
    # fall back to the configured default.
    concurrency = defaults.worker_concurrency()
    if concurrency is None:
        concurrency = int(app.conf.worker_concurrency or defaults.PROC)
    # Each task slot may run defaults.TASK_THREADS requests at once (sync_tags, copy_blobs).
    return ClientPool(
        Credentials(entries),
        pool_size=concurrency * defaults.TASK_THREADS,
        throttle=RedisThrottle(client),
    )


def _build(entries: Mapping[str, AuthEntry]) -> FleetContext:
    client = redisclient.connect(defaults.redis_url())
    return FleetContext(client, _pool(entries, client), CeleryDispatcher(app), _limits(entries))
