"""Image rules: what one ``images`` entry of an image-syncer config asks for, as typed data.

A source key takes one of four forms, each a :data:`Kind`::

    repo                  every tag                           kind "all"
    repo:t1,t2            these tags                          kind "tags"
    repo:/regex/          tags the RE2 regex matches          kind "regex"
    repo@sha256:<hex>     one manifest                        kind "digest"

A :class:`Rule` is one parsed entry, with its :class:`Destination` s; an entry
that cannot run is a :class:`BrokenRule`. :mod:`syncer.config.ruleparse` turns
an entry into either; ``to_dict``/``from_dict`` carry a rule through task
arguments and Redis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from syncer.config.platformchoice import PlatformChoice, platform_list
from syncer.config.referrers import referrers_dict, referrers_fields
from syncer.config.tagfilters import TagFilters
from syncer.config.tagregex import tag_matches
from syncer.errors import ConfigError
from syncer.oci.reference import Repository, validate_digest, validate_tag

Kind = Literal["all", "tags", "regex", "digest"]
KINDS: tuple[Kind, ...] = ("all", "tags", "regex", "digest")


def quote_key(key: object) -> str:
    """How messages quote a key: ``"a/b:v1"`` for strings, ``1.5`` for anything else."""
    return json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)


def type_name(value: object) -> str:
    """How messages name a value's type: ``null`` for None, else the Python type's name."""
    return "null" if value is None else type(value).__name__


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
    def needs_listing(self) -> bool:
        """Whether the rule's images are found by listing the source's tags (repo, or regex)."""
        return self.kind in ("all", "regex")

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
