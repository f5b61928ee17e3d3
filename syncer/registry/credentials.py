"""Which credentials to use for a repository.

For ``registry/path``, :meth:`Credentials.lookup` tries in turn:

1. the auth entry with the longest key that prefixes it on a path-component
   boundary (``quay.io/coreos`` covers ``quay.io/coreos/x``, not ``quay.io/coreosx/y``);
2. when that entry has no username, or there is none, the login files other
   tools write, in containers/image's order (see :mod:`syncer.registry.authfiles`):
   podman/skopeo's ``auth.json``, then docker's ``config.json``; in each,
   ``credHelpers[registry]``, then ``auths``, then ``credsStore``;
3. anonymous.

A credential from a login file is only ever used for the registry its key
names. A username of :data:`IDENTITY_TOKEN` (``<token>``) means the password
is an identity token (an OAuth2 refresh token), not a password: credential
helpers answer that way, and docker's ``identitytoken`` field is read the
same way.

Registry-specific logins image-syncer special-cases: on Google's registries
(``gcr.io``, ``*.gcr.io``, ``*-docker.pkg.dev``) the username ``_oauth2_`` with
a base64 service-account key as password. image-syncer trades the key for an
OAuth2 token itself (destinations only); syncer sends it as
``_json_key_base64``, which those registries accept directly, on either side.

Nothing here logs or raises with a username's password or a helper's answer.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncer.errors import ConfigError
from syncer.oci.reference import DOCKER_HUB, Repository, normalize_registry
from syncer.registry.authfiles import (
    IDENTITY_TOKEN,
    AuthFile,
    default_containers_auth,
    default_docker_config,
    host_of,
    load_auth_files,
)

log = logging.getLogger(__name__)


#: Longest wait for a ``docker-credential-*`` helper to answer, in seconds.
CREDENTIAL_HELPER_TIMEOUT = 30.0


__all__ = [
    "IDENTITY_TOKEN",
    "AuthEntry",
    "Credentials",
    "default_docker_config",
    "normalize_auth_key",
    "run_helper",
]
#: The server URL docker logs in to, and asks helpers about, for Docker Hub.
HUB_SERVER = "https://index.docker.io/v1/"

#: image-syncer's marker for a Google service-account key (``pkg/utils/auth/google.go``).
GOOGLE_OAUTH2_USER = "_oauth2_"
#: The username Google's registries take with a base64 service-account key.
GOOGLE_KEY_USER = "_json_key_base64"

#: Runs ``argv`` with ``stdin`` and returns its stdout; raises ``OSError`` or
#: ``subprocess.SubprocessError`` when the program is missing or fails.
HelperRunner = Callable[[Sequence[str], str], str]


@dataclass(frozen=True, slots=True, repr=False)
class AuthEntry:
    """Credentials and settings for a registry or path prefix; deliberately not serialisable."""

    username: str | None
    password: str | None
    insecure: bool = False
    max_connections: int | None = None
    #: Why this entry cannot be used: the images it would serve fail with this reason.
    problem: str = ""

    def __repr__(self) -> str:
        hidden = None if self.password is None else "***"
        return (
            f"AuthEntry(username={self.username!r}, password={hidden!r}, "
            f"insecure={self.insecure!r}, max_connections={self.max_connections!r}"
            + (f", problem={self.problem!r})" if self.problem else ")")
        )


def normalize_auth_key(key: str) -> str:
    """``registry[/namespace...]``, with Docker Hub aliases folded into ``docker.io``.

    A trailing ``/`` is dropped: image-syncer matches ``quay.io/`` like ``quay.io``.
    """
    host, _, path = key.rstrip("/").partition("/")
    registry = normalize_registry(host)
    if not path:
        return registry
    try:
        # The extra component keeps Hub namespaces as written: no library/ is added.
        Repository.parse(f"{registry}/{path}/x")
    except ConfigError as exc:
        raise ConfigError(f"invalid namespace {path!r}: names are lowercase") from exc
    return f"{registry}/{path}"


def run_helper(argv: Sequence[str], stdin: str) -> str:
    """The real :data:`HelperRunner`: a subprocess with a timeout."""
    done = subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=CREDENTIAL_HELPER_TIMEOUT,
    )
    return done.stdout


def covering_key(keys: Iterable[str], repo: Repository) -> str | None:
    """The longest auth key that covers ``repo`` on a path-component boundary, or None."""
    name = f"{repo.registry}/{repo.path}"
    return max((k for k in keys if name == k or name.startswith(k + "/")), key=len, default=None)


def keys_under(keys: Iterable[str], registry: str) -> list[str]:
    """The auth keys of ``registry`` itself or of a path under it."""
    return [k for k in keys if k == registry or k.startswith(registry + "/")]


class Credentials:
    """Auth entries from the config, then login files (auth.json, docker), then anonymous.

    ``login_files`` (podman/skopeo's ``auth.json``, read before docker's) default
    to the usual places, unless ``docker_config`` is given: then only the
    files named are read.
    """

    def __init__(
        self,
        entries: Mapping[str, AuthEntry] | None = None,
        *,
        docker_config: Path | None = None,
        login_files: Sequence[Path] | None = None,
        runner: HelperRunner = run_helper,
    ) -> None:
        self._entries = {_auth_key(k): v for k, v in (entries or {}).items()}
        if login_files is None:
            login_files = default_containers_auth() if docker_config is None else []
        self._paths = [*login_files, docker_config or default_docker_config()]
        self._runner = runner
        self._files: list[AuthFile] | None = None
        self._found: dict[str, tuple[str, str] | None] = {}
        # Helpers answer per registry: ask each once, whatever the repository.
        self._answers: dict[tuple[str, str], tuple[str, str] | None] = {}
        # Workers share one instance; the lock also keeps a helper from running twice.
        self._lock = threading.Lock()

    def lookup(self, repo: Repository) -> AuthEntry | None:
        """The credentials for ``repo``, or None for anonymous access."""
        name = f"{repo.registry}/{repo.path}"
        entry = covering_key(self._entries, repo)
        found = self._entries[entry] if entry is not None else None
        if found is not None and found.problem:
            # The entry meant for this repository is broken: failing is honest,
            # falling back to a shorter prefix or to anonymous is not.
            raise ConfigError(found.problem)
        if found is not None and found.username is not None:
            return _registry_login(repo.registry, found)
        login = self._from_files(repo.registry, name)
        if login is None:
            return found
        if found is None:
            return AuthEntry(*login, insecure=self.insecure(repo.registry))
        return AuthEntry(*login, insecure=found.insecure, max_connections=found.max_connections)

    def insecure(self, registry: str) -> bool:
        """Whether any entry for ``registry`` (or a path under it) sets ``insecure``."""
        host = host_of(registry) or registry
        return any(self._entries[k].insecure for k in keys_under(self._entries, host))

    def _from_files(self, registry: str, name: str) -> tuple[str, str] | None:
        with self._lock:
            if name not in self._found:
                if self._files is None:
                    self._files = load_auth_files(self._paths)
                self._found[name] = self._ask_files(self._files, registry, name)
            return self._found[name]

    def _ask_files(
        self, files: Sequence[AuthFile], registry: str, name: str
    ) -> tuple[str, str] | None:
        """The first file that has a login for ``name`` wins (containers/image's rule)."""
        for file in files:
            helper = file.helpers.get(registry)
            found = self._ask_helper(helper, registry) if helper is not None else None
            found = found or file.find(name)
            if found is None and file.store is not None:
                found = self._ask_helper(file.store, registry)
            if found is not None:
                return found
        return None

    def _ask_helper(self, name: str, registry: str) -> tuple[str, str] | None:
        """``docker-credential-NAME get``, once per registry (the caller holds the lock)."""
        if (name, registry) not in self._answers:
            self._answers[name, registry] = self._run_helper(name, registry)
        return self._answers[name, registry]

    def _run_helper(self, name: str, registry: str) -> tuple[str, str] | None:
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


def _registry_login(registry: str, entry: AuthEntry) -> AuthEntry:
    """image-syncer's Google login (``_oauth2_`` + base64 key) in the form Google accepts."""
    google = registry == "gcr.io" or registry.endswith((".gcr.io", "-docker.pkg.dev"))
    if google and entry.username == GOOGLE_OAUTH2_USER:
        return AuthEntry(GOOGLE_KEY_USER, entry.password, entry.insecure, entry.max_connections)
    return entry
