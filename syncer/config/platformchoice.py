"""A rule's ``platforms:`` list, a syncer extension: ``[linux/amd64, linux/arm64/v8]``.

It replaces ``--os``/``--arch`` for that rule. Each entry is
``os[/architecture[/variant]]``, read as ``--os os --arch architecture:variant``
would be; an image passes when it matches any one entry, so
``[linux/amd64, windows/arm64]`` means exactly those two, not their cross product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from syncer.errors import ConfigError
from syncer.oci.manifest import PlatformFilter

_PLATFORM = re.compile(r"[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*){0,2}", re.A)


@dataclass(frozen=True, slots=True)
class PlatformChoice(PlatformFilter):
    """A rule's ``platforms:`` list: an image passes when it matches any one entry."""

    choices: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether the list names any platform."""
        return bool(self.choices)

    def matches(self, platform: dict[str, Any]) -> bool:
        """Whether an index entry's platform matches one of the entries."""
        return any(entry_filter(c).matches(platform) for c in self.choices)

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-ready form."""
        return {"os": [], "arch": [], "platforms": list(self.choices)}


def entry_filter(text: str) -> PlatformFilter:
    """``linux/arm64/v8`` as the ``--os linux --arch arm64:v8`` filter."""
    os_name, _, arch = text.partition("/")
    arch, _, variant = arch.partition("/")
    return PlatformFilter((os_name,), (f"{arch}:{variant}" if variant else arch,) if arch else ())


def platform_list(value: object) -> tuple[str, ...]:
    """A rule's ``platforms:``: one ``os[/arch[/variant]]`` or a non-empty list of them."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError("expected a platform such as linux/amd64, or a list of them, got []")
    for item in items:
        if not isinstance(item, str) or not _PLATFORM.fullmatch(item):
            raise ConfigError(
                f"expected a platform such as linux/amd64 or linux/arm64/v8, got {item!r}"
            )
    return tuple(dict.fromkeys(items))
