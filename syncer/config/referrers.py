"""The ``referrers:`` option of a rule and ``--referrers-type``: parsed and checked.

A rule's object form takes ``referrers: true`` (every referrer), ``false``, or
``referrers: {types: [<artifactType>, ...]}`` (only those artifact types).
Types are media types (RFC 6838 ``type/subtype``), as ``artifactType`` is.
"""

from __future__ import annotations

import re
from typing import Any

from syncer.errors import ConfigError

#: RFC 6838 section 4.2: ``type/subtype`` of restricted-name characters.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)


def artifact_types(values: object, field: str) -> tuple[str, ...]:
    """A list of artifact types, each a media type; anything else is a ConfigError."""
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{field}: expected a non-empty list of artifact types")
    for value in values:
        if not isinstance(value, str) or not _MEDIA_TYPE.fullmatch(value):
            shown = repr(value)[:60]
            raise ConfigError(f"{field}: {shown} is not an artifact type (type/subtype)")
    return tuple(dict.fromkeys(values))


def referrers_fields(value: object) -> dict[str, Any]:
    """The Rule fields for a ``referrers:`` value: ``referrers`` and ``referrer_types``."""
    if isinstance(value, bool):
        return {"referrers": value, "referrer_types": ()}
    if isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k != "types")
        if unknown:
            raise ConfigError(f"referrers: unknown option {unknown[0][:40]!r} (only types)")
        return {
            "referrers": True,
            "referrer_types": artifact_types(value.get("types"), "referrers.types"),
        }
    raise ConfigError(f"referrers: expected true or false, got {value!r:.60} (or {{types: [...]}})")


def referrers_dict(rule: Any) -> Any:
    """The JSON form of a rule's referrers: ``true``, or ``{"types": [...]}``."""
    return {"types": list(rule.referrer_types)} if rule.referrer_types else True
