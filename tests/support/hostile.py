"""A small scripted registry for hostile-server tests, independent of syncer.

:class:`HostileRegistry` listens on 127.0.0.1 in a background thread and
answers each request from the first route whose method and path regex match.
A route is a plain function that receives a :class:`Reply` and writes
whatever it likes: a correct answer, a lie, a drip, an endless body, or
nothing at all. Unmatched requests get the spec's 404 with an ``errors[]``
body; ``GET /v2/`` answers 200 unless a route says otherwise.

Every server has a bounded lifetime (``lifetime`` seconds, 60 by default):
after it, the server stops listening and every long-running route sees
:attr:`Reply.stopping` set, so no test can leave a thread serving forever.

:meth:`HostileRegistry.serve_image` installs the routes of an honest
registry holding one image, so a test can then override just the one route
it wants to make hostile (routes added later win).

Given an ``ssl.SSLContext`` (``tls=``), a server speaks HTTPS; the client
trusts it through ``REQUESTS_CA_BUNDLE`` (see :func:`tls_context`).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.serving import Started

#: How long a server lives unless told otherwise, in seconds.
DEFAULT_LIFETIME = 60.0

Route = Callable[["Reply"], None]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    at: float


@dataclass(slots=True)
class Image:
    """A small single-platform Docker v2 image: its manifest, config and layer blobs."""

    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The manifest's digest."""
        return sha256(self.manifest)

    @property
    def layer(self) -> str:
        """The digest of the manifest's first layer."""
        return str(json.loads(self.manifest)["layers"][0]["digest"])


def make_image(label: str = "hostile", layer: bytes | None = None) -> Image:
    """A valid image whose layer is ``layer`` (some unique bytes by default)."""
    layer = layer if layer is not None else f"layer of {label}\n".encode() * 64
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": sha256(config)},
            "layers": [{"mediaType": DOCKER_LAYER, "size": len(layer), "digest": sha256(layer)}],
        },
        indent=3,
    ).encode()
    return Image(manifest, {sha256(config): config, sha256(layer): layer})


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context for ``cert`` (e.g. from ``tests.support.certs``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class Reply:
    """What a route uses to answer one request."""

    def __init__(self, handler: _Handler, match: re.Match[str] | None) -> None:
        self._h = handler
        self.match = match
        self.server: HostileRegistry = handler.server.registry  # type: ignore[attr-defined]

    @property
    def method(self) -> str:
        """The request method."""
        return self._h.command

    @property
    def path(self) -> str:
        """The request path, without the query string."""
        return urlsplit(self._h.path).path

    @property
    def query(self) -> str:
        """The raw query string."""
        return urlsplit(self._h.path).query

    @property
    def headers(self) -> Any:
        """The request headers (an ``email.message.Message``)."""
        return self._h.headers

    @property
    def stopping(self) -> bool:
        """True once the server is shutting down: long routes must return."""
        return self.server.stopped.is_set()

    def read_body(self, limit: int = 64 << 20) -> bytes:
        """Read the request body (``Content-Length`` or chunked), at most ``limit`` bytes."""
        length = self._h.headers.get("Content-Length")
        if length is not None:
            return self._h.rfile.read(min(int(length), limit))
        if self._h.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return b""
        out = bytearray()
        while len(out) < limit:
            size = int(self._h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self._h.rfile.readline()
                break
            out += self._h.rfile.read(size)
            self._h.rfile.readline()
        return bytes(out)

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """A complete answer with ``Content-Length`` (headers only for HEAD)."""
        hdrs = {"Content-Length": str(len(body)), **(headers or {})}
        self.start(status, hdrs)
        if self.method != "HEAD" and body:
            self.write(body)

    def send_json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        """A JSON answer."""
        self.send(
            status,
            json.dumps(obj).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def start(
        self, status: int, headers: dict[str, str] | list[tuple[str, str]] | None = None
    ) -> None:
        """Send the status line and headers (a list may repeat a name), and nothing else yet."""
        self._h.send_response(status)
        pairs = headers.items() if isinstance(headers, dict) else headers or []
        for name, value in pairs:
            self._h.send_header(name, value)
        self._h.end_headers()

    def write(self, data: bytes) -> bool:
        """Send body bytes; False if the client went away."""
        try:
            self._h.wfile.write(data)
            self._h.wfile.flush()
        except OSError:
            return False
        return True

    def sleep(self, seconds: float) -> bool:
        """Wait, waking early when the server stops; True if the wait ran its course."""
        return not self.server.stopped.wait(seconds)

    def hang(self) -> None:
        """Read the request and never answer, until the server stops."""
        self.server.stopped.wait()

    def drip(
        self, byte: bytes, every: float, headers: dict[str, str] | None = None, status: int = 200
    ) -> None:
        """Answer ``status`` with ``headers``, then one ``byte`` every ``every`` seconds."""
        self.start(status, headers)
        while self.sleep(every) and self.write(byte):
            pass

    def endless(
        self, piece: bytes, headers: dict[str, str] | None = None, status: int = 200
    ) -> int:
        """Stream ``piece`` forever (chunked, no length); return the bytes sent."""
        self.start(status, {"Transfer-Encoding": "chunked", **(headers or {})})
        frame = b"%x\r\n%s\r\n" % (len(piece), piece)
        sent = 0
        while not self.stopping and self.write(frame):
            sent += len(piece)
        return sent


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile/1"
    # Headers and body go out in separate writes; with Nagle's algorithm on,
    # the body then waits for the client's delayed ACK, 40 ms per answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None

    def _dispatch(self) -> None:
        registry: HostileRegistry = self.server.registry  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        registry.record(
            Seen(
                self.command, split.path, split.query, dict(self.headers.items()), time.monotonic()
            )
        )
        route, match = registry.find(self.command, split.path)
        reply = Reply(self, match)
        if registry.gate is not None and registry.gate(reply):
            return  # the gate answered
        if route is None:
            reply.send_json(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "no route"}]})
            return
        try:
            route(reply)
        except OSError:
            self.close_connection = True
        if registry.stopped.is_set():
            self.close_connection = True  # a route released by stop() answered nothing

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs in the request's own thread, so a client that
        # never completes one cannot stall the accept loop.
        try:
            wrapped: socket.socket = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()


class HostileRegistry(Started):
    """A scripted registry on ``127.0.0.1``; a context manager with a bounded lifetime."""

    def __init__(
        self, lifetime: float = DEFAULT_LIFETIME, tls: ssl.SSLContext | None = None
    ) -> None:
        self.lifetime = lifetime
        self.stopped = threading.Event()
        self.seen: list[Seen] = []
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []
        #: Sees every request first; answers it and returns True to stop it there (auth).
        self.gate: Callable[[Reply], bool] | None = None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.registry = self  # type: ignore[attr-defined]
        self._server.tls = tls
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self.route("GET", r"^/v2/$", lambda r: r.send_json(200, {}))

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> HostileRegistry:
        """Serve in the background until :meth:`stop` or the lifetime ends."""
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop listening and release every long-running route."""
        self.stopped.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as in image references."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, or ``https://`` when serving TLS."""
        return f"{'https' if self._server.tls else 'http'}://{self.host}"

    # -- routes and records -----------------------------------------------------
    def route(self, method: str, pattern: str, handler: Route | None = None) -> Any:
        """Add ``handler`` for ``method`` and a path regex; later routes win (or decorate)."""

        def add(fn: Route) -> Route:
            with self._lock:
                self._routes.insert(0, (method, re.compile(pattern), fn))
            return fn

        return add(handler) if handler is not None else add

    def find(self, method: str, path: str) -> tuple[Route | None, re.Match[str] | None]:
        """The route for a request, and its path match."""
        with self._lock:
            routes = list(self._routes)
        for m, regex, fn in routes:
            if m in (method, "*") or (m == "GET" and method == "HEAD"):
                match = regex.search(path)
                if match:
                    return fn, match
        return None, None

    def record(self, seen: Seen) -> None:
        """Remember a request."""
        with self._lock:
            self.seen.append(seen)

    def requests(self, method: str | None = None, path: str = "") -> list[Seen]:
        """The requests seen so far, optionally of one method and containing ``path``."""
        with self._lock:
            return [
                s for s in self.seen if (method is None or s.method == method) and path in s.path
            ]

    def serve_image(self, repo: str, tag: str, image: Image) -> None:
        """Answer like an honest registry holding ``image`` as ``repo:tag``."""
        name = re.escape(repo)

        def manifest(r: Reply) -> None:
            ref = r.path.rsplit("/", 1)[1]
            if ref not in (tag, image.digest):
                r.send_json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": ref}]})
                return
            r.send(
                200,
                image.manifest,
                {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": image.digest},
            )

        def blob(r: Reply) -> None:
            digest = r.path.rsplit("/", 1)[1]
            data = image.blobs.get(digest)
            if data is None:
                r.send_json(404, {"errors": [{"code": "BLOB_UNKNOWN", "message": digest}]})
                return
            r.send(
                200,
                data,
                {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"},
            )

        self.route("GET", rf"^/v2/{name}/manifests/[^/]+$", manifest)
        self.route("GET", rf"^/v2/{name}/blobs/sha256:[0-9a-f]{{64}}$", blob)
        self.route(
            "GET",
            rf"^/v2/{name}/tags/list$",
            lambda r: r.send_json(200, {"name": repo, "tags": [tag]}),
        )

    def serve_images(self, repo: str, images: dict[str, Image]) -> None:
        """Answer like an honest registry holding each ``images[tag]`` as ``repo:tag``."""
        name = re.escape(repo)
        manifests = {**{i.digest: i for i in images.values()}, **images}
        blobs = {d: b for i in images.values() for d, b in i.blobs.items()}

        def manifest(r: Reply) -> None:
            image = manifests.get(r.path.rsplit("/", 1)[1])
            if image is None:
                r.send_json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": ""}]})
                return
            headers = {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": image.digest}
            r.send(200, image.manifest, headers)

        self.route("GET", rf"^/v2/{name}/manifests/[^/]+$", manifest)
        self.route("GET", rf"^/v2/{name}/blobs/sha256:[0-9a-f]{{64}}$", blob_answers(blobs))
        self.route(
            "GET",
            rf"^/v2/{name}/tags/list$",
            lambda r: r.send_json(200, {"name": repo, "tags": sorted(images)}),
        )


def blob_answers(blobs: dict[str, bytes]) -> Callable[[Reply], None]:
    """A handler answering each blob of ``blobs`` honestly (with Content-Length), others 404."""

    def blob(r: Reply) -> None:
        data = blobs.get(r.path.rsplit("/", 1)[1])
        if data is None:
            r.send_json(404, {"errors": [{"code": "BLOB_UNKNOWN", "message": ""}]})
            return
        r.send(200, data, {"Content-Type": "application/octet-stream"})

    return blob


@dataclass(slots=True)
class Pool:
    """Starts hostile registries for one test and stops them all at the end."""

    started: list[HostileRegistry] = field(default_factory=list)

    def __call__(
        self, lifetime: float = DEFAULT_LIFETIME, tls: ssl.SSLContext | None = None
    ) -> HostileRegistry:
        server = HostileRegistry(lifetime, tls).start()
        self.started.append(server)
        return server

    def close(self) -> None:
        """Stop every server this pool started."""
        for server in self.started:
            server.stop()


def pool() -> Iterator[Pool]:
    """A :class:`Pool` that is closed afterwards (for a pytest fixture)."""
    p = Pool()
    try:
        yield p
    finally:
        p.close()
