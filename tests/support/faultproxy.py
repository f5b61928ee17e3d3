"""A fault-injecting HTTP reverse proxy for integration tests, independent of syncer.

:class:`FaultProxy` listens on 127.0.0.1 and forwards every request to one
upstream registry. It keeps the client's ``Host`` header, so the
``Location`` URLs distribution builds from it point back at the proxy.
Bodies are streamed both ways in bounded pieces; ``Content-Length`` and
chunked request bodies are both handled.

Faults are rules added at runtime (:meth:`FaultProxy.fault`) that match on
method and a path regex, fire from the ``nth`` match on, ``times`` times,
and then do one thing:

* ``status=503`` (with ``headers={"Retry-After": "1"}``): answer without forwarding;
* ``reset=True``: reset the client connection before forwarding anything;
* ``reset_request_after=N``: forward ``N`` bytes of the request body, then
  reset both connections;
* ``reset_response_after=N``: forward the request, send ``N`` bytes of the
  response body, then reset;
* ``truncate_after=N``: send ``N`` bytes of the response body and close
  cleanly, short of the ``Content-Length`` the headers promised;
* ``stall=S``: wait ``S`` seconds, then forward normally.

Every request is recorded (:attr:`FaultProxy.requests`) with its path, query,
selected request and response headers, status and the fault applied.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.serving import ServedInThread

#: Pieces in which bodies are relayed.
PIECE = 64 * 1024
#: Request headers kept in :class:`Recorded`.
RECORDED_REQUEST_HEADERS = (
    "Range",
    "Content-Range",
    "Content-Length",
    "Content-Type",
    "Transfer-Encoding",
    "Accept",
    "Authorization",
)
#: Response headers kept in :class:`Recorded`.
RECORDED_RESPONSE_HEADERS = (
    "Range",
    "Location",
    "Content-Range",
    "Content-Length",
    "Docker-Content-Digest",
    "Docker-Upload-UUID",
    "Retry-After",
)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_UPSTREAM_TIMEOUT = 120.0


@dataclass(slots=True)
class Fault:
    """One fault rule; see the module docstring for the actions."""

    method: str
    path: str
    nth: int = 1
    times: int | None = 1
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    reset_request_after: int | None = None
    reset_response_after: int | None = None
    truncate_after: int | None = None
    stall: float = 0.0
    #: Matching requests seen so far, and how many of them the fault hit.
    seen: int = 0
    fired: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        actions = [
            self.status is not None,
            self.reset,
            self.reset_request_after is not None,
            self.reset_response_after is not None,
            self.truncate_after is not None,
        ]
        if sum(actions) > 1:
            raise ValueError("a fault takes one of status, reset, reset_*_after, truncate_after")
        if sum(actions) == 0 and not self.stall:
            raise ValueError("a fault needs an action")
        self._regex = re.compile(self.path)

    def take(self, method: str, path: str) -> bool:
        """Count a request; return whether the fault fires on it. Call under the proxy lock."""
        if method != self.method or not self._regex.search(path):
            return False
        self.seen += 1
        if self.seen < self.nth or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True

    @property
    def label(self) -> str:
        """What the fault does, for the request record."""
        for name in ("status", "reset_request_after", "reset_response_after", "truncate_after"):
            value = getattr(self, name)
            if value is not None:
                return f"{name}={value}"
        return "reset" if self.reset else f"stall={self.stall}"


@dataclass(slots=True)
class Recorded:
    """One request the proxy saw, and what became of it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    fault: str = ""
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    #: Request body bytes read from the client.
    sent: int = 0
    #: ``time.monotonic()`` when the request arrived.
    at: float = field(default_factory=time.monotonic)

    def content_range(self) -> tuple[int, int] | None:
        """The request's ``Content-Range: start-end``, parsed."""
        value = self.headers.get("Content-Range", "")
        start, sep, end = value.removeprefix("bytes ").partition("-")
        return (int(start), int(end.split("/")[0])) if sep else None


class _Abort(Exception):
    """Reset the client connection now."""


class FaultProxy(ServedInThread):
    """A threaded reverse proxy to ``upstream`` (``host:port``) on a free loopback port."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as in image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    def start(self) -> None:
        """Listen in a background thread."""
        server = _Server(("127.0.0.1", 0), self._handler())
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            name=type(self).__name__.lower(),
            kwargs={"poll_interval": 0.05},
        )
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class; subclasses extend :class:`_Handler`."""
        return _Handler

    # -- faults and records -------------------------------------------------------
    def fault(self, method: str, path: str, **kwargs: Any) -> Fault:
        """Add a fault rule (see :class:`Fault`); return it, to read ``.fired`` later."""
        rule = Fault(method, path, **kwargs)
        with self._lock:
            self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self.faults.clear()

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def recorded(self, method: str | None = None, path: str = "") -> list[Recorded]:
        """Recorded requests with this method whose path matches the regex ``path``."""
        regex = re.compile(path)
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and regex.search(r.path)
            ]

    def _admit(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[Recorded, Fault | None]:
        parts = urlsplit(target)
        kept = {k: headers[k] for k in RECORDED_REQUEST_HEADERS if k in headers}
        record = Recorded(method, parts.path, parts.query, kept)
        with self._lock:
            hit = next((f for f in self.faults if f.take(method, parts.path)), None)
            if hit is not None:
                record.fault = hit.label
            self.requests.append(record)
        return record, hit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aborted: set[int] = set()
        self.abort_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Broken client connections are what this proxy is for; stay quiet."""

    def shutdown_request(self, request: Any) -> None:
        with self.abort_lock:
            aborted = id(request) in self.aborted
            self.aborted.discard(id(request))
        if aborted:
            # SO_LINGER 0 turns close() into a TCP RST; no FIN first.
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_request(request)
        else:
            super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet; :attr:`FaultProxy.requests` is the record."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._proxy
        raise AttributeError(name)

    # -- one request ----------------------------------------------------------------
    def _proxy(self) -> None:
        headers = {k: v for k, v in self.headers.items()}
        record, fault = self.server.proxy._admit(self.command, self.path, headers)
        self._admitted(record)
        try:
            self._handle(record, fault)
        except _Abort:
            self._abort()
        except OSError:
            # The client or the registry went away; nothing more to relay.
            self.close_connection = True

    def _admitted(self, record: Recorded) -> None:
        """Called once a request is recorded, before it is answered (subclasses note more)."""

    def _handle(self, record: Recorded, fault: Fault | None) -> None:
        if fault is not None and fault.stall:
            time.sleep(fault.stall)
        if fault is not None and fault.reset:
            raise _Abort
        if fault is not None and fault.status is not None:
            self._drain_request(record)
            self._reply_fault(record, fault)
            return
        limit = fault.reset_request_after if fault is not None else None
        upstream = http.client.HTTPConnection(self.server.proxy.upstream, timeout=_UPSTREAM_TIMEOUT)
        try:
            self._forward_request(upstream, record, limit)
            resp = upstream.getresponse()
            self._relay_response(resp, record, fault)
        finally:
            upstream.close()

    def _abort(self) -> None:
        self.close_connection = True
        with self.server.abort_lock:
            self.server.aborted.add(id(self.request))

    # -- request body -----------------------------------------------------------------
    def _request_body(self, record: Recorded) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from self._chunked_body(record)
            return
        yield from self._read_exactly(record, int(self.headers.get("Content-Length") or 0), "body")

    def _chunked_body(self, record: Recorded) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield from self._read_exactly(record, size, "chunk")
            self.rfile.readline()  # CRLF after the chunk

    def _read_exactly(self, record: Recorded, left: int, what: str) -> Iterator[bytes]:
        """``left`` bytes of the request body, in pieces, counted in ``record.sent``."""
        while left > 0:
            piece = self.rfile.read(min(PIECE, left))
            if not piece:
                raise ConnectionError(f"client closed mid-{what}")
            left -= len(piece)
            record.sent += len(piece)
            yield piece

    def _drain_request(self, record: Recorded) -> None:
        for _ in self._request_body(record):
            pass

    def _forward_request(
        self, upstream: http.client.HTTPConnection, record: Recorded, limit: int | None
    ) -> None:
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                upstream.putheader(name, value)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.endheaders()
        forwarded = 0
        for piece in self._request_body(record):
            if limit is not None and forwarded + len(piece) >= limit:
                piece = piece[: limit - forwarded]
                upstream.send(_chunk(piece) if chunked else piece)
                raise _Abort
            forwarded += len(piece)
            upstream.send(_chunk(piece) if chunked else piece)
        if limit is not None:
            raise _Abort  # the body was shorter than the limit: reset at its end
        if chunked:
            upstream.send(b"0\r\n\r\n")

    # -- response -----------------------------------------------------------------------
    def _reply_fault(self, record: Recorded, fault: Fault) -> None:
        assert fault.status is not None
        body = (
            b'{"errors":[{"code":"UNAVAILABLE","message":"injected by faultproxy"}]}'
            if fault.status >= 400
            else b""
        )
        self._send_fault(record, fault, body, "application/json")

    def _send_fault(self, record: Recorded, fault: Fault, body: bytes, content_type: str) -> None:
        """Answer with ``fault``'s status and headers and ``body``, and record the answer."""
        assert fault.status is not None
        record.status = fault.status
        record.response_headers = dict(fault.headers)
        self.send_response(fault.status)
        for name, value in fault.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _relay_response(
        self, resp: http.client.HTTPResponse, record: Recorded, fault: Fault | None
    ) -> None:
        record.status = resp.status
        record.response_headers = {
            k: resp.headers[k] for k in RECORDED_RESPONSE_HEADERS if k in resp.headers
        }
        has_body = (
            self.command != "HEAD"
            and resp.status not in (204, 304)
            and not 100 <= resp.status < 200
        )
        length = resp.headers.get("Content-Length")
        rechunk = has_body and length is None
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not has_body:
            return
        cut = None
        if fault is not None:
            cut = (
                fault.reset_response_after
                if fault.reset_response_after is not None
                else fault.truncate_after
            )
        sent = 0
        while True:
            piece = resp.read(PIECE)
            if not piece:
                break
            if cut is not None and sent + len(piece) >= cut:
                self._write(piece[: cut - sent], rechunk)
                self.wfile.flush()
                self.close_connection = True
                if fault is not None and fault.reset_response_after is not None:
                    raise _Abort
                return  # truncate: a clean close short of Content-Length
            sent += len(piece)
            self._write(piece, rechunk)
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")

    def _write(self, piece: bytes, chunked: bool) -> None:
        if piece:
            self.wfile.write(_chunk(piece) if chunked else piece)


def _chunk(piece: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(piece), piece)
