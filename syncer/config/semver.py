"""Semantic versions (https://semver.org, 2.0.0) and the ranges a rule's ``semver:`` names.

A tag is a version when it is ``MAJOR.MINOR.PATCH`` with an optional
``-prerelease`` (and ``+build``, which tags cannot hold), strictly as the spec
writes it; a leading ``v`` is allowed. ``1.20`` is not a version.

A range is comparators joined by commas, all of which must hold:
``>=1.20, <2``. Operators are ``>=``, ``>``, ``<=``, ``<``, ``=`` (the
default), ``!=``, ``~`` (patch updates) and ``^`` (updates that keep the first
non-zero part). A comparator's version may be partial: ``1.20`` stands for the
whole 1.20 line, prereleases included, so ``<2`` keeps no 2.0.0 prerelease
and ``>=1.20`` keeps 1.20.0-rc.1. Versions are ordered by the spec's
precedence (section 11): ``1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from syncer.errors import ConfigError

_NUM = r"0|[1-9]\d*"
_PRE_ID = rf"(?:{_NUM}|\d*[A-Za-z-][0-9A-Za-z-]*)"
_VERSION = re.compile(
    rf"v?(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
_COMPARATOR = re.compile(
    rf"(?P<op>>=|<=|!=|>|<|=|~|\^)?\s*v?(?P<major>{_NUM})(?:\.(?P<minor>{_NUM})"
    rf"(?:\.(?P<patch>{_NUM})(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?)?)?",
    re.ASCII,
)

#: A version's precedence: tuples compare as the spec orders versions.
Key = tuple[int, int, int, tuple[tuple[int, int | str], ...]]
#: The release sorts after every prerelease of its version (spec item 11.3).
_RELEASE: tuple[tuple[int, int | str], ...] = ((2, 0),)
#: ``-0``, the lowest prerelease of a version: where a partial version's line starts.
_LOWEST: tuple[tuple[int, int | str], ...] = ((0, 0),)


def _pre_key(pre: str | None) -> tuple[tuple[int, int | str], ...]:
    """Numeric identifiers sort numerically and before alphanumeric ones (11.4)."""
    if pre is None:
        return _RELEASE
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))


def version_key(tag: str) -> Key | None:
    """The precedence of ``tag`` as a version, or None when it is not one."""
    m = _VERSION.fullmatch(tag)
    if m is None:
        return None
    return (int(m["major"]), int(m["minor"]), int(m["patch"]), _pre_key(m["pre"]))


@dataclass(frozen=True, slots=True)
class _Comparator:
    """Versions from ``lo`` to ``hi`` (None: unbounded), or all but those when ``negated``."""

    lo: Key | None
    lo_open: bool
    hi: Key | None
    hi_open: bool
    negated: bool = False

    def holds(self, key: Key) -> bool:
        """Whether ``key`` satisfies the comparator."""
        above = self.lo is None or key > self.lo or (key == self.lo and not self.lo_open)
        below = self.hi is None or key < self.hi or (key == self.hi and not self.hi_open)
        return (above and below) != self.negated


@dataclass(frozen=True, slots=True)
class Range:
    """A parsed ``semver:`` range: every comparator must hold."""

    text: str
    comparators: tuple[_Comparator, ...]

    def contains(self, tag: str) -> bool:
        """Whether ``tag`` is a version inside the range."""
        key = version_key(tag)
        return key is not None and all(c.holds(key) for c in self.comparators)


@functools.lru_cache(maxsize=64)
def parse_range(text: str) -> Range:
    """Parse a range; ConfigError naming the comparator that does not parse."""
    if not text.strip():
        raise ConfigError('expected a version range such as ">=1.20, <2"')
    return Range(text, tuple(_comparator(part.strip()) for part in text.split(",")))


def _comparator(part: str) -> _Comparator:
    m = _COMPARATOR.fullmatch(part)
    if m is None:
        raise ConfigError(f"{part!r} is not a comparator such as >=1.2.3, <2, ~1.4 or ^0.3")
    op = m["op"] or "="
    parts = [int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0)]
    given = 1 + (m["minor"] is not None) + (m["patch"] is not None)
    if given == 3:
        exact: Key = (parts[0], parts[1], parts[2], _pre_key(m["pre"]))
        lo, hi = exact, exact
    else:
        # A partial version is a line: from its lowest prerelease up to the next line's.
        lo = (parts[0], parts[1], 0, _LOWEST) if given == 2 else (parts[0], 0, 0, _LOWEST)
        hi = _bumped(parts, given - 1)
    return _build(op, lo, hi, given == 3, parts, given)


def _bumped(parts: list[int], index: int) -> Key:
    """The lowest version of the next line at ``index`` (0 major, 1 minor, 2 patch)."""
    out = [*parts[:index], parts[index] + 1] + [0] * (2 - index)
    return (out[0], out[1], out[2], _LOWEST)


def _build(op: str, lo: Key, hi: Key, full: bool, parts: list[int], given: int) -> _Comparator:
    if op == "~":
        return _Comparator(lo, False, _bumped(parts, 0 if given == 1 else 1), True)
    if op == "^":
        # The first non-zero part written may not change; ^0.0 and ^0 keep their line.
        first = next((i for i, v in enumerate(parts[:given]) if v), given - 1)
        return _Comparator(lo, False, _bumped(parts, first), True)
    if op == ">=":
        return _Comparator(lo, False, None, False)
    if op == "<":
        return _Comparator(None, False, lo, True)
    if op == ">":
        # Above a version, or at or above the next line after a partial one.
        return _Comparator(lo, True, None, False) if full else _Comparator(hi, False, None, False)
    if op == "<=":
        return _Comparator(None, False, hi, not full)
    return _Comparator(lo, False, hi, not full, negated=op == "!=")
