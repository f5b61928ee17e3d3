"""Which credentials to use for a repository.

For ``registry/path``, :meth:`Credentials.lookup` tries in turn:

1. the auth entry with the longest key that prefixes it on a path-component
   boundary (``quay.io/coreos`` covers ``quay.io/coreos/x``, not ``quay.io/coreosx/y``);
2. when that entry has no username, or there is none, docker's ``config.json``:
   ``credHelpers[registry]``, then ``auths[registry]``, then ``credsStore``,
   the order in which docker itself prefers them;
3. anonymous.

A username of :data:`IDENTITY_TOKEN` (``<token>``) means the password is an
identity token (an OAuth2 refresh token), not a password: credential helpers
answer that way, and docker's ``identitytoken`` field is read the same way.

Nothing here logs or raises with a username's password or a helper's answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncer import defaults
from syncer.config import AuthEntry, normalize_auth_key
from syncer.errors import ConfigError
from syncer.reference import DOCKER_HUB, Repository, normalize_registry

log = logging.getLogger(__name__)

#: The username that marks the password as an identity token.
IDENTITY_TOKEN = "<token>"
#: The server URL docker logs in to, and asks helpers about, for Docker Hub.
HUB_SERVER = "https://index.docker.io/v1/"

#: Runs ``argv`` with ``stdin`` and returns its stdout; raises ``OSError`` or
#: ``subprocess.SubprocessError`` when the program is missing or fails.
HelperRunner = Callable[[Sequence[str], str], str]


def run_helper(argv: Sequence[str], stdin: str) -> str:
    """The real :data:`HelperRunner`: a subprocess with a timeout."""
    done = subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=defaults.CREDENTIAL_HELPER_TIMEOUT,
    )
    return done.stdout


def default_docker_config(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    env = os.environ if environ is None else environ
    base = env.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


@dataclass(frozen=True, slots=True)
class _DockerConfig:
    auths: dict[str, tuple[str, str]] = field(default_factory=dict)
    helpers: dict[str, str] = field(default_factory=dict)
    store: str | None = None


class Credentials:
    """Auth entries from the config, then docker's config, then anonymous."""

    def __init__(
        self,
        entries: Mapping[str, AuthEntry] | None = None,
        *,
        docker_config: Path | None = None,
        runner: HelperRunner = run_helper,
    ) -> None:
        self._entries = {_auth_key(k): v for k, v in (entries or {}).items()}
        self._docker_path = docker_config or default_docker_config()
        self._runner = runner
        self._docker: _DockerConfig | None = None
        self._found: dict[str, tuple[str, str] | None] = {}
        # Workers share one instance; the lock also keeps a helper from running twice.
        self._lock = threading.Lock()

    def lookup(self, repo: Repository) -> AuthEntry | None:
        """The credentials for ``repo``, or None for anonymous access."""
        name = f"{repo.registry}/{repo.path}"
        entry = max(
            (key for key in self._entries if name == key or name.startswith(key + "/")),
            key=len,
            default=None,
        )
        found = self._entries[entry] if entry is not None else None
        if found is not None and found.problem:
            # The entry meant for this repository is broken: failing is honest,
            # falling back to a shorter prefix or to anonymous is not.
            raise ConfigError(found.problem)
        if found is not None and found.username is not None:
            return found
        docker = self._from_docker(repo.registry)
        if docker is None:
            return found
        if found is None:
            return AuthEntry(*docker, insecure=self.insecure(repo.registry))
        return AuthEntry(*docker, insecure=found.insecure, max_connections=found.max_connections)

    def insecure(self, registry: str) -> bool:
        """Whether any entry for ``registry`` (or a path under it) sets ``insecure``."""
        host = _host(registry) or registry
        return any(
            e.insecure for k, e in self._entries.items() if k == host or k.startswith(host + "/")
        )

    def _from_docker(self, registry: str) -> tuple[str, str] | None:
        with self._lock:
            if registry not in self._found:
                self._found[registry] = self._ask_docker(registry)
            return self._found[registry]

    def _ask_docker(self, registry: str) -> tuple[str, str] | None:
        if self._docker is None:
            self._docker = _load_docker_config(self._docker_path)
        config = self._docker
        helper = config.helpers.get(registry)
        if helper is not None:
            return self._ask_helper(helper, registry)
        if registry in config.auths:
            return config.auths[registry]
        if config.store is not None:
            return self._ask_helper(config.store, registry)
        return None

    def _ask_helper(self, name: str, registry: str) -> tuple[str, str] | None:
        """``docker-credential-NAME get``; any failure means anonymous."""
        server = HUB_SERVER if registry == DOCKER_HUB else registry
        program = f"docker-credential-{name}"
        try:
            answer = json.loads(self._runner([program, "get"], server))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            # Only the type and exit status: stdout and stderr may hold the secret.
            status = getattr(exc, "returncode", None)
            log.debug(
                "%s for %s failed (%s, %s): anonymous",
                program,
                registry,
                type(exc).__name__,
                status,
            )
            return None
        user = answer.get("Username") if isinstance(answer, dict) else None
        secret = answer.get("Secret") if isinstance(answer, dict) else None
        if not isinstance(user, str) or not isinstance(secret, str) or not user or not secret:
            log.debug("%s for %s gave no username and secret: anonymous", program, registry)
            return None
        if user == IDENTITY_TOKEN:
            log.debug("%s for %s gave an identity token", program, registry)
        return user, secret


def _auth_key(key: str) -> str:
    """An auth key normalised; a broken entry's key that does not normalise stays as written."""
    try:
        return normalize_auth_key(key)
    except ConfigError:
        return key.rstrip("/")


def _host(key: str) -> str | None:
    """The registry a docker config key names: ``https://index.docker.io/v1/`` is docker.io."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    try:
        return normalize_registry(host)
    except ConfigError:
        return None


def _load_docker_config(path: Path) -> _DockerConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _DockerConfig()
    except (OSError, ValueError) as exc:
        log.warning("%s: ignoring unreadable docker config (%s)", path, type(exc).__name__)
        return _DockerConfig()
    if not isinstance(data, dict):
        log.warning("%s: ignoring docker config that is not an object", path)
        return _DockerConfig()
    auths: dict[str, tuple[str, str]] = {}
    for key, value in _mapping(data.get("auths")).items():
        host, creds = _host(key), _decode_auth(value)
        if host is not None and creds is not None:
            auths.setdefault(host, creds)
    helpers = {}
    for key, name in _mapping(data.get("credHelpers")).items():
        host = _host(key)
        if host is not None and isinstance(name, str) and name:
            helpers[host] = name
    store = data.get("credsStore")
    return _DockerConfig(auths, helpers, store if isinstance(store, str) and store else None)


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
