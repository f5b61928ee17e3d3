"""One :class:`RegistryClient` per (registry, credential), shared by every thread.

A repository that names an OCI image layout or archive (``oci:``,
``oci-archive:``) goes to the pool's ``layouts`` instead: the executor that
supports them (``syncer sync``) passes a :class:`~syncer.layout.client.LayoutClient`,
and a pool without one refuses them in one line.
"""

from __future__ import annotations

import logging
import threading

from syncer import defaults
from syncer.errors import ConfigError
from syncer.oci.reference import Repository
from syncer.registry import transport
from syncer.registry.api import Registry
from syncer.registry.client import RegistryClient
from syncer.registry.credentials import Credentials
from syncer.registry.throttle import LocalThrottle, Throttle

log = logging.getLogger(__name__)


class ClientPool:
    """Hands out clients so tokens and connections are reused across images."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        pool_size: int = defaults.PROC,
        throttle: Throttle | None = None,
        layouts: Registry | None = None,
    ) -> None:
        self.layouts = layouts
        self._credentials = credentials
        self._throttle: Throttle = throttle or LocalThrottle()
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, object], RegistryClient] = {}

    def for_repo(self, repo: Repository) -> Registry:
        """The client for ``repo``'s registry with the credential that matches ``repo``."""
        if repo.is_layout:
            if self.layouts is None:
                raise ConfigError(f"{repo}: OCI image layouts are for syncer sync only")
            return self.layouts
        entry = self._credentials.lookup(repo)
        insecure = self._credentials.insecure(repo.registry)
        key = (repo.api_host, entry)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if insecure:
                    log.warning("%s: TLS verification disabled (insecure: true)", repo.registry)
                client = RegistryClient(
                    repo.api_host,
                    entry,
                    insecure=insecure,
                    # Each blob copy holds a source and a destination connection.
                    session=transport.new_session(self._pool_size * 2),
                    throttle=self._throttle,
                )
                self._clients[key] = client
            return client

    def close(self) -> None:
        """Close every session."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
