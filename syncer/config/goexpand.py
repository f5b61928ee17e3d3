"""Go's ``os.ExpandEnv``, which image-syncer runs on every destination.

Written from the documented behaviour of Go's ``os.Expand``: ``$NAME`` and
``${NAME}`` are replaced by the variable's value (empty when unset); a shell
special after ``$`` (``$1``, ``$$``, ``$*``, ``$#``, ``$@``, ``$!``, ``$?``, ``$-``,
``$0``) is a one-character name, so it expands too, normally to nothing;
``${}`` and an unclosed ``${`` are bad syntax and vanish; a ``$`` with no name
after it (``$/``, a trailing ``$``) stays. Inside braces any text is a name
(``${A-B}`` looks up ``A-B``).

syncer's own :func:`syncer.config.rules.expand_env`, for credentials, leaves the
special forms literal, since a password may well hold ``$1``. A destination
cannot hold a ``$`` at all, so there Go's reading is the only one that copies.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Go's ``isShellSpecialVar``: one character after ``$`` is the whole name.
_SPECIAL = frozenset("*#$@!?-0123456789")


def _is_name_char(ch: str) -> bool:
    return ch == "_" or ("0" <= ch <= "9") or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _name_at(text: str, start: int) -> tuple[str | None, int]:
    """The name after the ``$`` at ``start - 1`` and where the reference ends.

    ``None`` means bad syntax (the reference is dropped); ``""`` means no name
    (the ``$`` stays).
    """
    first = text[start]
    if first == "{":
        if start + 2 < len(text) and text[start + 1] in _SPECIAL and text[start + 2] == "}":
            return text[start + 1], start + 3
        close = text.find("}", start + 1)
        if close == start + 1:
            return None, start + 2  # "${}"
        if close < 0:
            return None, start + 1  # "${" never closed: only "${" goes
        return text[start + 1 : close], close + 1
    if first in _SPECIAL:
        return first, start + 1
    end = start
    while end < len(text) and _is_name_char(text[end]):
        end += 1
    return text[start:end], end


def go_expand_env(text: str, environ: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """``text`` expanded as Go's ``os.ExpandEnv`` does, and what expanded to nothing.

    The second value lists each reference that left nothing behind, once
    each, for a warning: ``$TEAM`` (also for ``${TEAM}``), ``$1``, ``$$``, and bad
    syntax as written (``${}``); a variable set to the empty string is not listed.
    """
    out: list[str] = []
    gone: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0 or dollar + 1 >= len(text):
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        name, end = _name_at(text, dollar + 1)
        if name == "":
            out.append("$")
            i = dollar + 1
            continue
        if name is None or name not in environ:
            plain = name is not None and (name in _SPECIAL or name.isidentifier())
            gone.append("$" + name if plain and name is not None else text[dollar:end])
        else:
            out.append(environ[name])
        i = end
    return "".join(out), tuple(dict.fromkeys(gone))
