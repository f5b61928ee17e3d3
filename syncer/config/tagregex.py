"""Tag regexes of ``repo:/regex/`` rules, with Go's meaning.

image-syncer compiles the text between the slashes with Go's ``regexp``
package (RE2 syntax) and keeps every tag the regex matches anywhere in it, so
``/^v[[:digit:]]$/`` and ``/\\pL/`` work and lookarounds are compile errors.
Python's ``re`` reads several of those differently without saying so, which
would leave a mirror silently stale; RE2 itself (``google-re2``) reads them as
Go does.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from syncer.errors import ConfigError

#: Compiled tag patterns kept per process; rules are few and reused for every tag.
TAG_PATTERN_CACHE = 256


def _options() -> Any:
    opts = re2.Options()
    # RE2 otherwise writes each parse error to stderr itself; ours is the ConfigError.
    opts.log_errors = False
    return opts


@functools.lru_cache(maxsize=TAG_PATTERN_CACHE)
def compile_tag_regex(pattern: str) -> Any:
    """Compile ``pattern`` as Go's ``regexp.Compile`` would; ConfigError if it cannot."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "cannot compile"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ConfigError(f"invalid regex {pattern!r}: {reason}") from exc


def tag_matches(pattern: str, tag: str) -> bool:
    """Whether the regex matches anywhere in ``tag`` (Go's ``MatchString``: unanchored)."""
    return compile_tag_regex(pattern).search(tag) is not None
