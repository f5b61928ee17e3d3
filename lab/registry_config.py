"""The config file of a lab registry, in distribution 2.8's format.

https://distribution.github.io/distribution/about/configuration/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class HtpasswdAuth:
    """HTTP Basic auth from an htpasswd file (distribution accepts bcrypt entries only)."""

    path: str
    realm: str = "syncer-lab"


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """Bearer token auth; ``rootcertbundle`` holds the certificates that may sign tokens."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: str


def registry_config(
    *,
    addr: str,
    storage_dir: Path,
    secret: str,
    auth: HtpasswdAuth | TokenAuth | None = None,
    tls: tuple[str, str] | None = None,
    notify: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A registry config: filesystem storage with deletes, access log on, optional auth and TLS.

    ``notify`` lists ``notifications.endpoints`` (name, url, headers, timeout...):
    https://distribution.github.io/distribution/about/notifications/
    """
    http: dict[str, Any] = {
        "addr": addr,
        "secret": secret,
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls:
        http["tls"] = {"certificate": tls[0], "key": tls[1]}
    config: dict[str, Any] = {
        "version": 0.1,
        # The access log goes to stdout, the rest to stderr; the lab writes both to one file.
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
            # The purger runs in the background and would touch uploads mid-benchmark.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if notify:
        config["notifications"] = {"endpoints": notify}
    if isinstance(auth, HtpasswdAuth):
        config["auth"] = {"htpasswd": {"realm": auth.realm, "path": auth.path}}
    elif isinstance(auth, TokenAuth):
        config["auth"] = {
            "token": {
                "realm": auth.realm,
                "service": auth.service,
                "issuer": auth.issuer,
                "rootcertbundle": auth.rootcertbundle,
            }
        }
    return config
