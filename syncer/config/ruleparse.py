"""One ``images`` entry into a :class:`~syncer.config.rules.Rule`: its key, then its value.

The key takes one of the four forms :mod:`syncer.config.rules` draws. A
destination is a repository, optionally with tags (``dst:n1,n2``) that rename
the source tags by position, or with the source's digest (``dst@sha256:...``).
As in image-syncer, destination tags may follow any source form: for a
repo-wide or regex rule they rename the listed tags in the order the source
registry lists them, and the rule fails when the counts differ. A tag repeated
in a source list is copied once. Errors raised here do not name the file or
the key; :mod:`syncer.config.files` adds both, and makes the entry a
:class:`~syncer.config.rules.BrokenRule` that fails only its own images.

A syncer extension, which no image-syncer file uses: the value may be an
object, ``{to: ..., include, exclude, semver, latest, platforms, referrers}``.
``to`` takes every image-syncer value form (string, list, null), and the key
every form above. Tag filters (:mod:`syncer.config.tagfilters`) narrow what a
repo-wide or regex key selects (for ``repo:/regex/``, a tag must match the
key's regex *and* the filters); a key that lists its tags or names a digest
takes no tag filter. A mapping is this form when it has at least one of those
fields; one without any stays what syncer always made of it, a broken entry
that fails alone (image-syncer refuses the whole file). Every
mistake in an object, unknown fields too, is a :class:`ConfigError` for the
whole file, never a broken rule: a filter silently ignored would copy what
the user meant to leave out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, TypeGuard

from syncer.config.goexpand import go_expand_env
from syncer.config.platformchoice import platform_list
from syncer.config.referrers import referrers_fields
from syncer.config.rules import Destination, Rule, quote_key, type_name
from syncer.config.tagfilters import TagFilters
from syncer.config.tagregex import compile_tag_regex
from syncer.errors import ConfigError
from syncer.oci.reference import (
    Repository,
    normalize_registry,
    split_transport,
    validate_digest,
    validate_tag,
)

log = logging.getLogger(__name__)

_DEST_TYPE = "destination must be a string or a list of strings"
#: The fields of an entry's object form, in the order docs/configuration.md lists them.
OBJECT_FIELDS = ("to", "include", "exclude", "semver", "latest", "platforms", "referrers")
_FILTER_FIELDS = ("include", "exclude", "semver", "latest")


def parse_rule(
    key: str,
    value: object,
    *,
    default_registry: str | None = None,
    default_namespace: str | None = None,
    environ: Mapping[str, str],
) -> Rule:
    """Parse one ``images`` entry: a source key and a destination string, list or null.

    An object value is syncer's own form (see the module docstring).
    """
    if is_object_form(value):
        return _parse_object(key, value, default_registry, default_namespace, environ)
    if isinstance(value, dict):
        # As before the object form: a broken entry that fails alone.
        fields = ", ".join(OBJECT_FIELDS)
        raise ConfigError(f"{_DEST_TYPE}, got dict (syncer's object form takes {fields})")
    return _with_destinations(
        _parse_source(key), value, default_registry, default_namespace, environ
    )


def is_object_form(value: object) -> TypeGuard[dict[Any, Any]]:
    """Whether an ``images`` value is syncer's object form: a mapping with one of its fields.

    A mapping without any stays a broken entry, as it always was, so no
    image-syncer file changes meaning.
    """
    return isinstance(value, dict) and any(k in OBJECT_FIELDS for k in value)


def _with_destinations(
    rule: Rule,
    value: object,
    default_registry: str | None,
    default_namespace: str | None,
    environ: Mapping[str, str],
) -> Rule:
    """``rule`` with the destinations of an image-syncer value: a string, a list or null."""
    if value is None or isinstance(value, str):
        values: list[object] = [value]
    elif isinstance(value, list):
        values = list(value) or [None]  # image-syncer: an empty list is an empty string
    else:
        raise ConfigError(f"{_DEST_TYPE}, got {type_name(value)}")
    dests: list[Destination] = []
    for raw in values:
        if raw is None or raw == "":
            dest = _default_destination(rule.source, default_registry, default_namespace)
        elif isinstance(raw, str):
            dest = _parse_destination(raw, rule, environ)
        else:
            raise ConfigError(f"{_DEST_TYPE}, got {type_name(raw)}")
        if dest not in dests:
            dests.append(dest)
    tags = rule.tags
    if not any(d.tags for d in dests):
        tags = tuple(dict.fromkeys(tags))  # `v1,v1`: one image, as image-syncer copies it
    return dataclasses.replace(rule, tags=tags, destinations=tuple(dests))


def _parse_object(
    key: str,
    value: dict[object, object],
    default_registry: str | None,
    default_namespace: str | None,
    environ: Mapping[str, str],
) -> Rule:
    """The object form: ``to`` as an image-syncer value, and syncer's own fields."""
    for name in value:
        if name not in OBJECT_FIELDS:
            raise ConfigError(
                f"{quote_key(name)}: unknown field; expected {', '.join(OBJECT_FIELDS)}"
            )
    rule = _parse_source(key)
    try:
        rule = _with_destinations(
            rule, value.get("to"), default_registry, default_namespace, environ
        )
    except ConfigError as exc:
        raise ConfigError(f"to: {exc}") from None
    filters = TagFilters.from_dict({k: value.get(k) for k in _FILTER_FIELDS})
    if filters.active and not rule.needs_listing:
        named = next(k for k in _FILTER_FIELDS if value.get(k) is not None)
        what = "lists its tags" if rule.kind == "tags" else "names a digest"
        raise ConfigError(f"{named}: tag filters need a repo or repo:/regex/ key; this one {what}")
    platforms: tuple[str, ...] = ()
    if value.get("platforms") is not None:
        try:
            platforms = platform_list(value["platforms"])
        except ConfigError as exc:
            raise ConfigError(f"platforms: {exc}") from None
    referrers = referrers_fields(value.get("referrers", False))
    return dataclasses.replace(rule, filters=filters, platforms=platforms, **referrers)


def written_destinations(value: object, environ: Mapping[str, str]) -> tuple[str, ...]:
    """An entry's destinations as written (expanded), to name in its failure reports."""
    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for raw in values or [""]:
        text = "" if raw is None else repr(raw)
        if isinstance(raw, str):
            text = go_expand_env(raw, environ)[0]
        if text not in out:
            out.append(text)
    return tuple(out)


def _parse_source(key: str) -> Rule:
    if not key.strip():
        raise ConfigError("empty source")
    if key != key.strip():
        raise ConfigError("source has leading or trailing whitespace")
    # A layout's path starts with '/' (``oci:/dir:/regex/``): look past the transport.
    transport, body = split_transport(key)
    if ":/" in body:  # before splitting on ',' and ':', which the regex may contain
        name, _, rest = body.partition(":/")
        if not rest.endswith("/"):
            raise ConfigError("a tag regex must start and end with '/', as in repo:/regex/")
        pattern = rest[:-1]
        compile_tag_regex(pattern)
        return Rule(key, Repository.parse(transport + name), "regex", pattern=pattern)
    name, tags, digest = _split(key, source=True)
    repo = Repository.parse(name)
    if digest is not None:
        if tags:  # image-syncer lets the digest win, as does docker pull
            log.warning(
                "images[%s]: tag %s ignored: the digest names the image", quote_key(key), tags[0]
            )
        return Rule(key, repo, "digest", digest=digest)
    return Rule(key, repo, "tags", tags=tags) if tags else Rule(key, repo, "all")


def _split(text: str, *, source: bool = False) -> tuple[str, tuple[str, ...], str | None]:
    """``name[:t1,t2][@digest]`` into its parts, validating tags and digest.

    In a source, an empty tag after the first (``repo:v1,``) is dropped with a
    warning: image-syncer copies the others (and fails a task for the empty one).
    """
    name, digest = text, None
    if "@" in text:
        name, digest = text.split("@", 1)
        validate_digest(digest)
    tags: tuple[str, ...] = ()
    colon = name.rfind(":")
    if colon > name.rfind("/"):  # a colon before the last '/' is a registry port
        name, listed = name[:colon], name[colon + 1 :].split(",")
        if source and listed[0] and "" in listed:
            log.warning("images[%s]: empty tag ignored", quote_key(text))
            listed = [tag for tag in listed if tag]
        for tag in listed:
            if not tag:
                raise ConfigError(f"empty tag in {text!r}")
            validate_tag(tag)
        tags = tuple(listed)
    return name, tags, digest


def _parse_destination(raw: str, rule: Rule, environ: Mapping[str, str]) -> Destination:
    # Go's expansion, as image-syncer's: a destination cannot hold a '$', so a
    # `$1` or `$$` that Go drops would only make the rule fail here.
    text, unset = go_expand_env(raw, environ)
    where = f"destination {quote_key(raw)}"
    unset_note = ", ".join(unset) + " not set"
    try:
        if not text:
            raise ConfigError("empty after expanding the environment")
        name, tags, digest = _split(text)
        dest = Destination(Repository.parse(name), tags, digest)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" + (f" ({unset_note})" if unset else "")) from exc
    if unset:
        log.warning(
            "images[%s]: %s: %s, expanded to nothing", quote_key(rule.key), where, unset_note
        )
    problem = _mismatch(dest, rule)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return dest


def _mismatch(dest: Destination, rule: Rule) -> str | None:
    """Why ``dest`` cannot receive what ``rule`` selects, or None.

    A destination digest takes one image whose digest must be that one: a
    digest source is checked here, a tag when it is pulled (as in image-syncer,
    which compares two digests only and lets the registry refuse the rest).
    """
    n, m = len(rule.tags), len(dest.tags)
    if dest.digest is not None and rule.kind == "tags" and n != 1:
        return f"{n} source tags but one destination digest"
    if dest.digest is not None and rule.kind == "digest" and dest.digest != rule.digest:
        return f"destination digest {dest.digest} differs from source digest {rule.digest}"
    if m and rule.kind == "tags" and m != n:
        return f"{n} source tag{'s' * (n != 1)} but {m} destination tag{'s' * (m != 1)}"
    if m > 1 and rule.kind == "digest":
        return f"a digest source takes one destination tag, not {m}"
    return None


def _default_destination(
    source: Repository, registry: str | None, namespace: str | None
) -> Destination:
    """image-syncer's old ``--registry``/``--namespace`` mapping for an empty destination."""
    if not registry:
        raise ConfigError("empty destination needs --registry or DEFAULT_REGISTRY")
    try:
        host = normalize_registry(registry)
        path = f"{namespace.strip('/')}/{source.name}" if namespace else source.path
        return Destination(Repository.parse(f"{host}/{path}"))
    except ConfigError as exc:
        raise ConfigError(f"empty destination: {exc}") from exc
