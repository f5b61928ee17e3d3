"""Reading what a server sent, JSON bodies and numbers in headers, without a way to crash us.

Both look harmless and are not. ``json.loads`` of ``[[[[…`` nested past the
interpreter's recursion limit (a thousand levels: 2 KiB of a 4 MiB manifest)
raises :class:`RecursionError`, which no ``except ValueError`` catches. And
``str.isdigit()`` accepts ``²``, which ``int()`` then refuses, as it refuses
more than 4,300 digits. Each reached the user as a traceback. Every JSON
body and header number from a server goes through these two instead.
"""

from __future__ import annotations

import json
from typing import Any


def loads(raw: bytes | str) -> Any:
    """``json.loads``; nesting too deep for it is a :class:`ValueError`, like any bad JSON."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def whole(text: str | None) -> int | None:
    """A header's non-negative whole number, or None when it is not plain ASCII digits."""
    value = (text or "").strip()
    # 18 digits: 10^18 bytes or seconds is beyond any real header, and cheap to convert.
    if not value or len(value) > 18 or not (value.isascii() and value.isdigit()):
        return None
    return int(value)
