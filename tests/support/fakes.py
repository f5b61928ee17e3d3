"""A fake transport: a ``requests`` adapter that routes requests to handlers and records them.

Mount :class:`FakeTransport` on a session (:func:`mounted`) and hand that
session to :class:`~syncer.registry.client.RegistryClient`. Everything above
the adapter (requests' redirects, auth stripping and cookie jar, and all of
syncer) runs for real; only the network is replaced.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.client import HTTPMessage
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from syncer import defaults
from syncer.registry import deadline
from syncer.registry.client import RegistryClient
from syncer.registry.credentials import AuthEntry

HOST = "reg.example"
BASE = f"https://{HOST}"
REALM = "https://auth.example/token"
BEARER = f'Bearer realm="{REALM}",service="reg"'


@dataclass
class Seen:
    """One request as the transport received it."""

    method: str
    url: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    complete: bool
    verify: Any

    @property
    def path(self) -> str:
        """The URL's path."""
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The URL's query parameters."""
        return parse_qs(urlsplit(self.url).query)


@dataclass
class Reply:
    """What a handler answers; ``raw`` replaces ``body`` for streams that misbehave."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw: Any = None


Handler = Callable[[Seen], Reply]


def replies(*answers: Reply) -> Handler:
    """A handler giving ``answers`` in turn, then repeating the last one."""
    queue = list(answers)

    def handle(_: Seen) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handle


def raises(exc: BaseException) -> Handler:
    """A handler that fails the way a broken network does."""

    def handle(_: Seen) -> Reply:
        raise exc

    return handle


def json_reply(doc: Any, status: int = 200, **headers: str) -> Reply:
    """A JSON body."""
    return Reply(status, {"Content-Type": "application/json", **headers}, json.dumps(doc).encode())


class FakeTransport(BaseAdapter):
    """Routes ``(method, url without query)`` to handlers; records every request in ``seen``."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], Handler] = {}
        self.seen: list[Seen] = []

    def on(self, method: str, url: str, answer: Handler | Reply) -> None:
        """Answer ``method url`` with a handler, or always with the same reply."""
        handler = answer if callable(answer) else (lambda _seen, r=answer: r)
        self.routes[(method, url)] = handler

    def requests_to(self, method: str, url: str) -> list[Seen]:
        """Recorded requests for ``method url`` (query ignored)."""
        return [s for s in self.seen if s.method == method and s.url.split("?")[0] == url]

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        method, url = request.method or "", request.url or ""
        seen = Seen(method, url, CaseInsensitiveDict(request.headers), b"", False, verify)
        self.seen.append(seen)
        seen.body = _consume(request.body, seen)
        seen.complete = True
        handler = self.routes.get((method, url.split("?")[0]))
        if handler is None:
            raise AssertionError(f"unexpected request {method} {url}")
        return _response(request, handler(seen))

    def close(self) -> None:
        pass


def _consume(body: Any, seen: Seen) -> bytes:
    """Read the request body as a server would, keeping what arrived if the sender fails."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    got = bytearray()
    try:
        for chunk in body:
            got += chunk
    finally:
        seen.body = bytes(got)
    return bytes(got)


def _response(request: requests.PreparedRequest, reply: Reply) -> requests.Response:
    resp = requests.Response()
    resp.status_code = reply.status
    resp.reason = "fake"
    resp.headers = CaseInsensitiveDict(reply.headers)
    raw = reply.raw if reply.raw is not None else io.BytesIO(reply.body)
    # requests reads Set-Cookie from the raw response's original http.client message.
    msg = HTTPMessage()
    for key, value in reply.headers.items():
        msg[key] = value
    raw._original_response = SimpleNamespace(msg=msg)
    resp.raw = raw
    resp.url = request.url or ""
    resp.request = request
    resp.encoding = None
    return resp


class BreakingStream(io.RawIOBase):
    """A response body that delivers ``data`` and then resets the connection."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if not self._data:
            raise ConnectionResetError("connection reset by peer")
        size = len(self._data) if size < 0 else size
        out, self._data = self._data[:size], self._data[size:]
        return out


def mounted(transport: FakeTransport, session: requests.Session | None = None) -> requests.Session:
    """``session`` (a plain one by default) with ``transport`` on both schemes."""
    session = session or requests.Session()
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session


def client(
    transport: FakeTransport,
    credentials: AuthEntry | None = None,
    *,
    host: str = HOST,
    insecure: bool = False,
    session: requests.Session | None = None,
) -> RegistryClient:
    """A client for ``host`` whose network is ``transport``."""
    return RegistryClient(host, credentials, insecure=insecure, session=mounted(transport, session))


def open_registry(transport: FakeTransport, host: str = HOST) -> None:
    """``GET /v2/`` answers 200: no auth at all."""
    transport.on("GET", f"https://{host}/v2/", Reply(200))


class TokenEndpoint:
    """A token issuer handing out ``tok-1``, ``tok-2``, …; or failing with ``status``."""

    def __init__(self, expires_in: int = 300, status: int = 200) -> None:
        self.expires_in, self.status = expires_in, status
        self.issued = 0

    def __call__(self, seen: Seen) -> Reply:
        if self.status != 200:
            return json_reply(
                {"errors": [{"code": "UNAUTHORIZED", "message": "denied"}]},
                self.status,
                **{"WWW-Authenticate": 'Basic realm="auth"'},
            )
        self.issued += 1
        return json_reply({"token": f"tok-{self.issued}", "expires_in": self.expires_in})


def bearer_registry(transport: FakeTransport, tokens: TokenEndpoint) -> None:
    """``GET /v2/`` challenges for a Bearer token issued at :data:`REALM`."""
    transport.on("GET", f"{BASE}/v2/", Reply(401, {"WWW-Authenticate": BEARER}))
    transport.on("GET", REALM, tokens)


def needs_token(token: str, answer: Reply, challenge: str = BEARER) -> Handler:
    """A registry endpoint that answers only to ``Bearer token``."""

    def handle(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == f"Bearer {token}":
            return answer
        return Reply(401, {"WWW-Authenticate": challenge})

    return handle


def chunks(data: bytes, size: int) -> Iterable[bytes]:
    """``data`` in pieces of ``size``."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blob reads of 4 bytes, so a body comes in several pieces, and retries that never sleep."""
    monkeypatch.setattr(defaults, "STREAM_CHUNK", 4)
    monkeypatch.setattr(deadline, "sleep", lambda _: None)
