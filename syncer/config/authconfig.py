"""The ``auth`` map of an image-syncer config: one entry per registry or path prefix.

A key is a registry (``quay.io``) or a path prefix (``quay.io/coreos``); Docker
Hub aliases fold into ``docker.io``. Besides image-syncer's ``username``,
``password`` and ``insecure``, an entry keyed by a registry host may set
``max_connections``. ``$VAR`` and ``${VAR}`` are expanded in the usernames and
passwords of an ``--auth`` file (:func:`~syncer.config.goexpand.expand_env`),
never in a legacy ``--config`` file's; an entry that cannot be used keeps its
``problem``, so the images it would serve fail with it. :mod:`syncer.config.files`
reads the file and says which kind it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from syncer.config.godecode import fold_fields
from syncer.config.goexpand import expand_env
from syncer.config.rules import quote_key, type_name
from syncer.errors import ConfigError
from syncer.registry.credentials import AuthEntry, normalize_auth_key

log = logging.getLogger(__name__)

AUTH_FIELDS = ("username", "password", "insecure", "max_connections")


def parse_auth(
    raw: object, path: Path, environ: Mapping[str, str], *, expand: bool = True
) -> dict[str, AuthEntry]:
    """Every entry by normalised key; one that cannot be used carries its ``problem``.

    A broken entry is kept, not dropped: dropping it would silently hand its
    repositories a shorter prefix's credentials, or none. ``expand`` is false
    for a legacy ``--config`` file, whose credentials image-syncer uses as written.
    """
    where = f"{path}: auth"
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of registries, got {type_name(raw)}")
    entries: dict[str, AuthEntry] = {}
    written: dict[str, str] = {}
    for key, value in raw.items():
        at = f"{where}[{quote_key(key)}]"
        normal = str(key).rstrip("/")
        try:
            if not isinstance(key, str):
                raise ConfigError(
                    f"expected a registry or registry/namespace, got {type_name(key)}"
                )
            normal = normalize_auth_key(key)
            if path.suffix == ".json" and isinstance(value, dict):
                value = fold_fields(value, AUTH_FIELDS)  # Go's JSON decoder: "Username" too
            entry = _parse_entry(value, at, normal, environ, expand)
        except ConfigError as exc:
            reason = str(exc) if str(exc).startswith(at) else f"{at}: {exc}"
            log.warning("%s; images it serves will fail", reason)
            entry = AuthEntry(None, None, problem=reason)
        if normal in written and entries[normal] != entry:
            log.warning(
                "%s: auth[%s] and auth[%s] name the same registry: using auth[%s], "
                "the later one in the file",
                path,
                quote_key(written[normal]),
                quote_key(key),
                quote_key(key),
            )
        written[normal] = str(key)
        entries.pop(normal, None)
        entries[normal] = entry
    return entries


def _login(
    value: Mapping[object, object], at: str, env: Mapping[str, str] | None
) -> tuple[str | None, str | None]:
    """An entry's username and password, both or neither, warning about what was dropped."""
    username, user_unset = _credential(value, "username", at, env)
    password, pass_unset = _credential(value, "password", at, env)
    if (username is None) != (password is None):
        # image-syncer sends credentials only when both are non-empty
        # (pkg/sync/source.go), so this entry's images go without them.
        have, lack, unset = ("username", "password", pass_unset)
        if username is None:
            have, lack, unset = ("password", "username", user_unset)
        note = f" (${', $'.join(unset)} not set)" if unset else ""
        log.warning(
            "%s: %s without %s%s: no credentials from this entry; login files, then anonymous",
            at,
            have,
            lack,
            note,
        )
        username = password = None
    elif username is None and (user_unset or pass_unset):
        unset_names = ", $".join(dict.fromkeys(user_unset + pass_unset))
        log.warning("%s: credentials empty, $%s not set: anonymous", at, unset_names)
    elif user_unset:
        # Harbor's robot$name loads as "robot" here, as in image-syncer, and
        # then fails as a 401 that names no cause.
        log.warning(
            "%s.username: $%s not set, expanded to nothing; a name with a $ in it "
            "(Harbor's robot$...) belongs in an environment variable: username: ${VAR}",
            at,
            ", $".join(user_unset),
        )
    return username, password


def _parse_entry(
    value: object, at: str, key: str, environ: Mapping[str, str], expand: bool
) -> AuthEntry:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{at}: expected a mapping of username and password, got {type_name(value)}"
        )
    for field in value:
        if field not in AUTH_FIELDS:
            log.warning("%s: ignoring unknown field %s", at, quote_key(field))
    env = environ if expand else None
    username, password = _login(value, at, env)
    insecure = value.get("insecure")
    if insecure is not None and not isinstance(insecure, bool):
        raise ConfigError(f"{at}.insecure: expected a boolean, got {type_name(insecure)}")
    limit = value.get("max_connections")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"{at}.max_connections: expected a positive integer, got {limit!r}")
        if "/" in key:
            raise ConfigError(f"{at}.max_connections: only a registry host can limit connections")
    return AuthEntry(username, password, bool(insecure), limit)


def _credential(
    entry: Mapping[object, object], field: str, at: str, environ: Mapping[str, str] | None
) -> tuple[str | None, tuple[str, ...]]:
    """A username or password, expanded unless ``environ`` is None; empty counts as absent.

    Never echoes the value.
    """
    raw = entry.get(field)
    if raw is None:
        return None, ()
    if not isinstance(raw, str):
        raise ConfigError(f"{at}.{field}: expected a string, got {type_name(raw)}: quote it")
    if environ is None:
        if "$" in raw:
            log.debug("%s.%s: used as written ($ is not expanded in a --config file)", at, field)
        return raw or None, ()
    text, unset = expand_env(raw, environ)
    return text or None, unset
