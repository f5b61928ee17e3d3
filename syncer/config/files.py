"""Load image-syncer config files into typed, frozen objects.

Two layouts, as in image-syncer:

* ``--config FILE``: the legacy single file ``{"auth": {...}, "images": {...}}``;
* ``--auth FILE --images FILE``: each file holds its map itself; auth is optional.

``.json`` files are JSON, ``.yaml`` and ``.yml`` files YAML. Every problem is
one line naming the file and the key, e.g.
``images.json: images["a/b:/[/"]: invalid regex '[': missing ]: [``. A file
that cannot be read or parsed raises :class:`~syncer.errors.ConfigError`; a
problem in one entry does not, as image-syncer copies the other rules: a bad
``images`` entry becomes a :class:`~syncer.config.rules.BrokenRule` in
:attr:`SyncConfig.broken`, and a bad auth entry keeps its ``problem``, so the
images it would serve fail with it (:meth:`syncer.registry.credentials.Credentials.lookup`).
YAML is read as image-syncer's Go parser reads it where the two differ:
``username`` and ``password`` keep the text written, ``insecure: y`` is true,
and tabs after a colon or at a line's end are allowed. Like Go's decoders
(:mod:`syncer.config.godecode`), only a file's first JSON value or YAML document is
read, and JSON field names match in any case.

An auth key is a registry (``quay.io``) or a path prefix (``quay.io/coreos``);
Docker Hub aliases fold into ``docker.io``. Besides image-syncer's ``username``,
``password`` and ``insecure``, an entry keyed by a registry host may set
``max_connections``, which becomes :attr:`SyncConfig.limits`.

``$VAR`` and ``${VAR}`` are expanded in the usernames and passwords of an
``--auth`` file (:func:`syncer.config.rules.expand_env`), never in a legacy
``--config`` file, whose credentials are used as written (``robot$ci``), as in
image-syncer; destinations are expanded in both, as Go's ``os.ExpandEnv``
does (:mod:`syncer.config.goexpand`). An unset variable becomes the empty string, as
in image-syncer, and an entry left with a username but no password (or the
reverse) gives no credentials, as in image-syncer: the login files and then
anonymous access serve its images, and a warning names the entry and the
variable. A destination that no longer parses is a problem naming the
variable (one that still parses is only logged as a warning).

Two keys naming the same registry or prefix (``quay.io`` and ``quay.io/``) are
both kept by image-syncer, which then uses either; here the later one in the
file wins, with a warning when they differ.

An ``images`` value may also be an object (a syncer extension, see
:mod:`syncer.config.rules`): any mistake in one fails the whole file, exit 2, as
``images.yaml: images["quay.io/org/app"]: latest: expected a positive integer, got 0``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from syncer.config.godecode import first_json_value, first_yaml_document, fold_fields, yaml_v2_bool
from syncer.config.rules import (
    BrokenRule,
    Destination,
    Rule,
    expand_env,
    is_object_form,
    parse_rule,
    quote_key,
    written_destinations,
)
from syncer.errors import ConfigError
from syncer.registry.credentials import AuthEntry, normalize_auth_key

__all__ = [
    "BrokenRule",
    "ConfigError",
    "Destination",
    "Rule",
    "SyncConfig",
    "load_auth",
    "load_config",
]

log = logging.getLogger(__name__)

_FORMATS = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
_AUTH_FIELDS = ("username", "password", "insecure", "max_connections")
_LEGACY_KEYS = ("auth", "images")
_TEXT_FIELDS = ("username", "password")
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_TAB_AFTER_COLON = re.compile(r":(?=[ ]*\t)[ \t]+")


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Everything a config names: auth entries by normalised key, rules, connection limits."""

    auth: Mapping[str, AuthEntry]
    rules: tuple[Rule, ...]
    limits: Mapping[str, int]
    #: Entries that cannot run; each fails its own images, the others still sync.
    broken: tuple[BrokenRule, ...] = ()


def load_config(
    config: Path | None = None,
    auth: Path | None = None,
    images: Path | None = None,
    *,
    default_registry: str | None = None,
    default_namespace: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SyncConfig:
    """Load the legacy ``config`` file, or the ``auth`` (optional) and ``images`` files.

    ``config`` wins when both layouts are given. ``default_registry`` and
    ``default_namespace`` fill in empty destinations; ``environ`` defaults to
    :data:`os.environ`.
    """
    env = os.environ if environ is None else environ
    expand = config is None  # image-syncer expands credentials of --auth files only
    if config is not None:
        if auth is not None or images is not None:
            log.warning("--config %s wins: ignoring --auth and --images", config)
        raw_auth, raw_images = _read_legacy(config)
        auth_file = images_file = config
    elif images is not None:
        raw_auth = None if auth is None else _read(auth)
        raw_images = _read(images)
        auth_file, images_file = auth or images, images
    else:
        raise ConfigError("no image list: pass --config FILE, or --images FILE (and --auth FILE)")
    entries = _parse_auth(raw_auth, auth_file, env, expand=expand)
    rules, broken = _parse_images(
        raw_images,
        f"{images_file}: images",
        default_registry=default_registry,
        default_namespace=default_namespace,
        environ=env,
    )
    limits = {k: e.max_connections for k, e in entries.items() if e.max_connections is not None}
    return SyncConfig(MappingProxyType(entries), rules, MappingProxyType(limits), broken)


def load_auth(path: Path, *, environ: Mapping[str, str] | None = None) -> Mapping[str, AuthEntry]:
    """Load an auth file on its own, as workers do; a legacy config file's ``auth`` works too.

    As in :func:`load_config`, a legacy file's credentials are used as written.
    """
    env = os.environ if environ is None else environ
    raw = _read(path)
    legacy = False
    if isinstance(raw, dict):
        top = fold_fields(raw, _LEGACY_KEYS) if path.suffix == ".json" else raw
        legacy = "images" in top and set(top) <= set(_LEGACY_KEYS)
        raw = top.get("auth") if legacy else raw
    return MappingProxyType(_parse_auth(raw, path, env, expand=not legacy))


def read_data(path: Path) -> object:
    """One JSON or YAML file as plain data, by its extension; errors name the file and line."""
    return _read(path)


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _read(path: Path) -> object:
    """Parse one file by its extension."""
    fmt = _FORMATS.get(path.suffix)
    if fmt is None:
        raise ConfigError(f"{path}: unknown file type {path.suffix!r}: use .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    if fmt == "JSON":
        try:
            data, more = first_json_value(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise ConfigError(f"{path}: invalid JSON at {where}: {exc.msg}") from exc
        if more:
            log.warning("%s: ignoring what follows the first JSON value", path)
        return data
    try:
        data, more = _load_yaml(text)
        if more:
            log.warning("%s: ignoring the YAML documents after the first", path)
        return data
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from exc


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``username`` and ``password`` as the text written.

    image-syncer decodes them into Go strings, which keep a scalar's text:
    ``password: 0123`` is the password ``0123``, where YAML 1.1 would make it 83.
    And ``insecure: y`` is true, as yaml.v2 reads it.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
                continue
            if key.value in _TEXT_FIELDS and value.tag != _NULL_TAG:
                value.tag = _STR_TAG
            elif key.value == "insecure":
                yaml_v2_bool(value)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> tuple[object, bool]:
    """The first document, and whether more follow; on a syntax error, again with
    the tabs Go's parser tolerates made spaces."""
    try:
        return first_yaml_document(text, _Loader)
    except yaml.MarkedYAMLError as first:
        if "\t" not in text:
            raise
        # Tabs after a colon or at the end of a line, which image-syncer's yaml.v2
        # accepts; tried only after a failure, so a tab that parses is never touched.
        lines = (_TAB_AFTER_COLON.sub(": ", line).rstrip(" \t") for line in text.split("\n"))
        try:
            return first_yaml_document("\n".join(lines), _Loader)
        except yaml.YAMLError:
            raise first from None


def _read_legacy(path: Path) -> tuple[object, object]:
    data = _read(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with auth and images, got {_type(data)}")
    if path.suffix == ".json":
        data = fold_fields(data, _LEGACY_KEYS)  # Go's JSON decoder: "Images" is images
    if "images" in data or "auth" in data:
        for key in data:
            if key not in _LEGACY_KEYS:
                log.warning("%s: ignoring unknown top-level key %s", path, quote_key(key))
    elif data:
        # No auth and no images key: an images-only file given where the legacy
        # file goes (`syncer plan images.yaml`); read it as image-syncer's
        # --images would.
        log.info("%s has no auth or images key: reading it as an images file", path)
        return None, data
    if data.get("images") is None:
        # image-syncer runs no rule and succeeds: so does syncer, and says so.
        log.warning("%s: no images: nothing to copy", path)
        return data.get("auth"), {}
    return data.get("auth"), data["images"]


def _parse_images(
    raw: object,
    where: str,
    *,
    default_registry: str | None,
    default_namespace: str | None,
    environ: Mapping[str, str],
) -> tuple[tuple[Rule, ...], tuple[BrokenRule, ...]]:
    """Every entry as a rule, or as a broken rule that fails only its own images."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of sources, got {_type(raw)}")
    rules: list[Rule] = []
    broken: list[BrokenRule] = []
    for key, value in raw.items():
        at = f"{where}[{quote_key(key)}]"
        try:
            if not isinstance(key, str):
                raise ConfigError(f"expected an image string, got {_type(key)}: quote it")
            rule = parse_rule(
                key,
                value,
                default_registry=default_registry,
                default_namespace=default_namespace,
                environ=environ,
            )
        except ConfigError as exc:
            if is_object_form(value):
                # syncer's own object form is checked strictly: a filter that is
                # silently skipped would copy what the user meant to leave out.
                raise ConfigError(f"{at}: {exc}") from exc
            # Reported once, as each of its images fails, by whichever executor runs it.
            broken.append(
                BrokenRule(str(key), written_destinations(value, environ), f"{at}: {exc}")
            )
            continue
        rules.append(rule)
    return tuple(rules), tuple(broken)


def _parse_auth(
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
        raise ConfigError(f"{where}: expected a mapping of registries, got {_type(raw)}")
    entries: dict[str, AuthEntry] = {}
    written: dict[str, str] = {}
    for key, value in raw.items():
        at = f"{where}[{quote_key(key)}]"
        normal = str(key).rstrip("/")
        try:
            if not isinstance(key, str):
                raise ConfigError(f"expected a registry or registry/namespace, got {_type(key)}")
            normal = normalize_auth_key(key)
            if path.suffix == ".json" and isinstance(value, dict):
                value = fold_fields(value, _AUTH_FIELDS)  # Go's JSON decoder: "Username" too
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


def _parse_entry(
    value: object, at: str, key: str, environ: Mapping[str, str], expand: bool
) -> AuthEntry:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{at}: expected a mapping of username and password, got {_type(value)}")
    for field in value:
        if field not in _AUTH_FIELDS:
            log.warning("%s: ignoring unknown field %s", at, quote_key(field))
    env = environ if expand else None
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
    insecure = value.get("insecure")
    if insecure is not None and not isinstance(insecure, bool):
        raise ConfigError(f"{at}.insecure: expected a boolean, got {_type(insecure)}")
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
        raise ConfigError(f"{at}.{field}: expected a string, got {_type(raw)}: quote it")
    if environ is None:
        if "$" in raw:
            log.debug("%s.%s: used as written ($ is not expanded in a --config file)", at, field)
        return raw or None, ()
    text, unset = expand_env(raw, environ)
    return text or None, unset
