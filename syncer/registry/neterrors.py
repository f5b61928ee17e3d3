"""Why a request failed, in one line: what urllib3 and requests wrap, unwrapped.

:mod:`syncer.registry.transport` catches the exceptions; these read them: a
connection that never opened (which host, which socket error), a
certificate problem, and the informative tail of a message, without the
query string (it may carry a token).
"""

from __future__ import annotations

import re

import urllib3

from syncer.text import shown


def never_connected(exc: BaseException) -> tuple[str, object, OSError] | None:
    """``(host, port, socket error)`` when a connection never opened: DNS, refused, unreachable.

    urllib3 wraps the socket error in a ``NewConnectionError`` (a
    ``NameResolutionError`` for DNS) that knows the host it tried (the
    registry's, a redirect's or a proxy's), inside ``MaxRetryError``, inside
    requests' ``ConnectionError``; the chain is walked by ``args``, ``reason``
    and ``__cause__``, a bounded number of steps.
    """
    seen: list[BaseException] = [exc]
    conn: object = None
    for item in seen:
        if isinstance(item, urllib3.exceptions.NewConnectionError) and conn is None:
            conn = item.conn
        if conn is not None and isinstance(item, OSError) and item.strerror:
            return str(getattr(conn, "host", "")), getattr(conn, "port", ""), item
        if len(seen) < 16:
            more = [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
            seen += [m for m in more if isinstance(m, BaseException) and m not in seen]
    return None


def is_certificate_problem(exc: BaseException) -> bool:
    """Whether ``exc`` says the server's certificate was refused."""
    text = str(exc).lower()
    return any(
        marker in text
        for marker in (
            "certificate verify failed",
            "hostname mismatch",
            "doesn't match",
            "self signed",
            "self-signed",
        )
    )


_QUERY = re.compile(r"\?[^\s'\")]*")


def short(exc: BaseException) -> str:
    """``exc`` as one shown line: no query string, urllib3's pool repr cut to its cause."""
    text = _QUERY.sub("", str(exc))
    # urllib3 messages embed the whole pool repr; keep the informative tail.
    if "Caused by" in text:
        text = text.split("Caused by", 1)[1].strip(" ()'\"")
    return shown(text)
