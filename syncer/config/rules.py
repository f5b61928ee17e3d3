"""Image rules: what one ``images`` entry of an image-syncer config asks for.

A source key takes one of four forms::

    repo                  every tag                           kind "all"
    repo:t1,t2            these tags                          kind "tags"
    repo:/regex/          tags the RE2 regex matches          kind "regex"
    repo@sha256:<hex>     one manifest                        kind "digest"

A destination is a repository, optionally with tags (``dst:n1,n2``) that rename
the source tags by position, or with the source's digest (``dst@sha256:...``).
As in image-syncer, destination tags may follow any source form: for a
repo-wide or regex rule they rename the listed tags in the order the source
registry lists them, and the rule fails when the counts differ. A tag repeated
in a source list is copied once. Errors raised here do not name the file or
the key; :mod:`syncer.config.files` adds both, and makes the entry a
:class:`BrokenRule` that fails only its own images.

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
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, cast

from syncer.config.goexpand import go_expand_env
from syncer.config.platformchoice import PlatformChoice, platform_list
from syncer.config.referrers import referrers_dict, referrers_fields
from syncer.config.tagfilters import TagFilters
from syncer.config.tagregex import compile_tag_regex, tag_matches
from syncer.errors import ConfigError
from syncer.oci.reference import (
    Repository,
    normalize_registry,
    split_transport,
    validate_digest,
    validate_tag,
)

log = logging.getLogger(__name__)

Kind = Literal["all", "tags", "regex", "digest"]
KINDS: tuple[Kind, ...] = ("all", "tags", "regex", "digest")

_DEST_TYPE = "destination must be a string or a list of strings"
#: The fields of an entry's object form, in the order the README lists them.
OBJECT_FIELDS = ("to", "include", "exclude", "semver", "latest", "platforms", "referrers")
_FILTER_FIELDS = ("include", "exclude", "semver", "latest")
_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_]\w*)\}|(?P<plain>[A-Za-z_]\w*)|(?P<dollar>\$))", re.A
)


def expand_env(text: str, environ: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """Expand ``$VAR`` and ``${VAR}``; return the result and the names that were unset.

    As with Go's ``os.ExpandEnv``, which image-syncer uses, an unset variable
    expands to the empty string. Unlike Go, ``$$`` is a literal ``$``; any other
    ``$`` (``$1``, ``$-``, a lone ``$``) is left as it is.
    """
    unset: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        if m["dollar"]:
            return "$"
        name = m["braced"] or m["plain"]
        if name not in environ:
            unset.append(name)
            return ""
        return environ[name]

    return _VAR.sub(substitute, text), tuple(dict.fromkeys(unset))


def quote_key(key: object) -> str:
    """How messages quote a key: ``"a/b:v1"`` for strings, ``1.5`` for anything else."""
    return json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)


def _decoding(what: str, exc: Exception) -> ConfigError:
    return ConfigError(f"cannot decode {what}: {type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a rule copies to; ``tags`` rename the source tags by position."""

    repo: Repository
    tags: tuple[str, ...] = ()
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives, for task arguments."""
        return {"repo": str(self.repo), "tags": list(self.tags), "digest": self.digest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Destination:
        """The inverse of :meth:`to_dict`; validates every field."""
        try:
            digest = data.get("digest")
            return cls(
                Repository.parse(data["repo"]),
                tuple(validate_tag(t) for t in data.get("tags", ())),
                None if digest is None else validate_digest(digest),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise _decoding("Destination", exc) from exc

    def __str__(self) -> str:
        tags = ":" + ",".join(self.tags) if self.tags else ""
        return f"{self.repo}{tags}{'@' + self.digest if self.digest else ''}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``images`` entry: a source selection and where it goes."""

    key: str
    source: Repository
    kind: Kind
    tags: tuple[str, ...] = ()
    pattern: str | None = None
    digest: str | None = None
    destinations: tuple[Destination, ...] = ()
    #: The object form's tag filters, applied after the key's own selection.
    filters: TagFilters = TagFilters()
    #: The object form's ``platforms:``, replacing ``--os``/``--arch`` for this rule.
    platforms: tuple[str, ...] = ()
    #: The object form's ``referrers:``, kept for the referrer copy.
    referrers: bool = False
    #: ``referrers: {types: [...]}``: only referrers of these artifact types.
    referrer_types: tuple[str, ...] = ()

    @property
    def platform_filter(self) -> PlatformChoice | None:
        """The rule's own platform filter, or None to use the global one."""
        return PlatformChoice(choices=self.platforms) if self.platforms else None

    def matches(self, tag: str) -> bool:
        """Whether the rule selects ``tag`` of the source (never, for a digest rule)."""
        if self.kind == "all":
            return True
        if self.kind == "tags":
            return tag in self.tags
        return self.pattern is not None and tag_matches(self.pattern, tag)

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives, for task arguments."""
        return {
            "key": self.key,
            "source": str(self.source),
            "kind": self.kind,
            "tags": list(self.tags),
            "pattern": self.pattern,
            "digest": self.digest,
            "destinations": [d.to_dict() for d in self.destinations],
            # The object form's fields only when set: a plain rule's form is unchanged.
            **({"filters": self.filters.to_dict()} if self.filters.active else {}),
            **({"platforms": list(self.platforms)} if self.platforms else {}),
            **({"referrers": referrers_dict(self)} if self.referrers else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """The inverse of :meth:`to_dict`."""
        try:
            if data["kind"] not in KINDS:
                raise ConfigError(f"cannot decode Rule: unknown kind {data['kind']!r}")
            return cls(
                key=str(data["key"]),
                source=Repository.parse(data["source"]),
                kind=cast(Kind, data["kind"]),
                tags=tuple(validate_tag(t) for t in data.get("tags", ())),
                pattern=data.get("pattern"),
                digest=None if data.get("digest") is None else validate_digest(data["digest"]),
                destinations=tuple(Destination.from_dict(d) for d in data.get("destinations", ())),
                filters=TagFilters.from_dict(data.get("filters") or {}),
                platforms=platform_list(data["platforms"]) if data.get("platforms") else (),
                **referrers_fields(data.get("referrers", False)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise _decoding("Rule", exc) from exc


@dataclass(frozen=True, slots=True)
class BrokenRule:
    """An ``images`` entry that cannot run, and the one-line reason naming it."""

    key: str
    destinations: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives."""
        return {"key": self.key, "destinations": list(self.destinations), "reason": self.reason}


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
        raise ConfigError(f"{_DEST_TYPE}, got {_type(value)}")
    dests: list[Destination] = []
    for raw in values:
        if raw is None or raw == "":
            dest = _default_destination(rule.source, default_registry, default_namespace)
        elif isinstance(raw, str):
            dest = _parse_destination(raw, rule, environ)
        else:
            raise ConfigError(f"{_DEST_TYPE}, got {_type(raw)}")
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
    if filters.active and rule.kind in ("tags", "digest"):
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


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


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
