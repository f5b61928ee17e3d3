"""Login files other tools write: podman/skopeo's ``auth.json`` and docker's ``config.json``.

image-syncer reaches these through containers/image, which reads them in
this order and takes the first file that knows the registry:

1. ``$REGISTRY_AUTH_FILE`` if set (podman's and skopeo's variable; containers/image
   itself ignores it, so image-syncer does too), else
   ``$XDG_RUNTIME_DIR/containers/auth.json`` (``/run/containers/UID/auth.json``
   without ``XDG_RUNTIME_DIR``), where ``podman login`` writes;
2. ``$XDG_CONFIG_HOME/containers/auth.json`` (``~/.config/containers/auth.json``);
3. docker's ``$DOCKER_CONFIG/config.json`` (``~/.docker/config.json``).

Within a file, ``credHelpers[registry]`` comes first, then ``auths`` (the most
specific of ``registry/namespace/repo``, ``registry/namespace``, ``registry``),
then ``credsStore``. Nothing here logs a credential.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncer.errors import ConfigError
from syncer.oci.reference import normalize_registry

log = logging.getLogger(__name__)

#: The username that marks the password as an identity token.
IDENTITY_TOKEN = "<token>"


@dataclass(frozen=True, slots=True)
class AuthFile:
    """What one login file holds; ``auths`` keys are ``registry[/path]``."""

    path: Path
    auths: dict[str, tuple[str, str]] = field(default_factory=dict)
    helpers: dict[str, str] = field(default_factory=dict)
    store: str | None = None

    def find(self, name: str) -> tuple[str, str] | None:
        """The most specific ``auths`` entry for ``registry/path``, or None."""
        parts = name.split("/")
        for end in range(len(parts), 0, -1):
            found = self.auths.get("/".join(parts[:end]))
            if found is not None:
                return found
        return None


def default_docker_config(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    env = os.environ if environ is None else environ
    base = env.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def default_containers_auth(environ: Mapping[str, str] | None = None) -> list[Path]:
    """podman/skopeo's ``auth.json`` files, in containers/image's order."""
    env = os.environ if environ is None else environ
    first = env.get("REGISTRY_AUTH_FILE")
    if not first:
        runtime = env.get("XDG_RUNTIME_DIR")
        base = Path(runtime) if runtime else Path("/run/containers") / str(os.getuid())
        first = str(base / "containers" / "auth.json") if runtime else str(base / "auth.json")
    config_home = env.get("XDG_CONFIG_HOME")
    config = Path(config_home) if config_home else Path.home() / ".config"
    return [Path(first), config / "containers" / "auth.json"]


def load_auth_files(paths: Sequence[Path]) -> list[AuthFile]:
    """Each file that exists and parses, in order; a broken one is skipped with a warning."""
    return [f for f in (load_auth_file(p) for p in paths) if f is not None]


def load_auth_file(path: Path) -> AuthFile | None:
    """One login file, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s: ignoring unreadable login file (%s)", path, type(exc).__name__)
        return None
    if not isinstance(data, dict):
        log.warning("%s: ignoring login file that is not an object", path)
        return None
    auths: dict[str, tuple[str, str]] = {}
    for key, value in _mapping(data.get("auths")).items():
        name, creds = _auth_key(key), _decode_auth(value)
        if name is not None and creds is not None:
            auths.setdefault(name, creds)
    helpers = {}
    for key, helper in _mapping(data.get("credHelpers")).items():
        host = host_of(key)
        if host is not None and isinstance(helper, str) and helper:
            helpers[host] = helper
    store = data.get("credsStore")
    return AuthFile(path, auths, helpers, store if isinstance(store, str) and store else None)


def host_of(key: str) -> str | None:
    """The registry a key names: ``https://index.docker.io/v1/`` is docker.io."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    try:
        return normalize_registry(host)
    except ConfigError:
        return None


def _auth_key(key: str) -> str | None:
    """``registry[/path]``: a URL key (docker's legacy form) names only its host."""
    host = host_of(key)
    if host is None or "://" in key:
        return host
    path = key.rstrip("/").partition("/")[2]
    return f"{host}/{path}" if path else host


def _mapping(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str)}


def _decode_auth(value: object) -> tuple[str, str] | None:
    """One ``auths`` entry: an identity token, base64 ``user:pass``, or the two fields."""
    if not isinstance(value, dict):
        return None
    token = value.get("identitytoken")
    if isinstance(token, str) and token:
        return IDENTITY_TOKEN, token
    encoded = value.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep and user and password else None
    name, secret = value.get("username"), value.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name and secret:
        return name, secret
    return None
