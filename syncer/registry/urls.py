"""What of a server's URLs and text may be shown, and where credentials belong.

Server text reaches a message through :func:`syncer.text.shown`; a URL reaches one
without its query (upload state, pre-signed credentials) and without user
info; :func:`origin` is what credentials are bound to.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from syncer.text import shown


def strip_query(url: str) -> str:
    """``url`` without its query string."""
    # Upload URLs carry opaque state (distribution's signed "_state") and some
    # redirect targets carry pre-signed credentials: never echo query strings.
    return url.split("?", 1)[0]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url``, the default port filled in: where credentials belong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # never equal to a real origin's port
    return scheme, parts.hostname or "", port or _DEFAULT_PORTS.get(scheme, -1)


def shown_host(url: str) -> str:
    """``host[:port]`` of ``url`` for a message: no user info, nothing unprintable."""
    return shown(urlsplit(url).netloc.rpartition("@")[2])


def is_loopback(url: str) -> bool:
    """Whether ``url`` names localhost or a loopback address (127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
