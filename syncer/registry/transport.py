"""The single boundary between ``requests`` and syncer's error tree.

Only this module catches ``requests`` exceptions. Everything above it sees
:mod:`syncer.errors` types, chained to the original with ``from exc``; an
error *status* becomes one in :mod:`syncer.registry.replies`. Every
request runs under a :mod:`~syncer.registry.deadline` watch; when the watchdog
cut the connection, the error says which deadline did it.
"""

from __future__ import annotations

import http.cookiejar
import socket
import time
import urllib.request
import weakref
from collections.abc import Iterator
from typing import Any

import requests
import urllib3

from syncer import defaults, untrusted
from syncer.errors import (
    RegistryError,
    ResponseTooLargeError,
    TLSError,
    TLSHandshakeError,
    TransportError,
    UnresolvableHostError,
)
from syncer.oci.models import SizedBody
from syncer.registry import deadline, waiting
from syncer.registry.neterrors import is_certificate_problem, never_connected, short
from syncer.registry.urls import is_loopback, origin, strip_query
from syncer.text import shown


def _drop_cookies(resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Response hook: forget ``Set-Cookie`` before requests stores it, redirects included."""
    resp.headers.pop("Set-Cookie", None)
    # requests reads cookies from the http.client message underneath the response.
    original = getattr(resp.raw, "_original_response", None)
    if original is not None and getattr(original, "msg", None) is not None:
        del original.msg["Set-Cookie"]
    return resp


class _Session(requests.Session):
    """A session whose redirects never carry a credential to another origin,
    and that never sends a loopback request through a proxy."""

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """requests' settings, without the environment's proxy for a loopback URL.

        Go's ``http.ProxyFromEnvironment``, which image-syncer uses, never
        proxies localhost or a loopback address, whatever ``$HTTP_PROXY`` says;
        requests would send them to the proxy unless ``$NO_PROXY`` lists them.
        """
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if is_loopback(_text(url)):
            settings["proxies"] = {}
        return settings

    def rebuild_proxies(self, prepared_request: requests.PreparedRequest, proxies: Any) -> Any:
        """A redirect's proxies; none for a loopback target (see above)."""
        if is_loopback(prepared_request.url or ""):
            return {}
        # requests' stubs leave this method untyped.
        return super().rebuild_proxies(prepared_request, proxies)  # type: ignore[no-untyped-call]

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """Drop ``Authorization`` when a redirect changes scheme, host or port."""
        # requests keeps it on an http->https move of one host and then reads
        # ~/.netrc for the new URL; a credential belongs to exactly one origin.
        if origin(response.request.url or "") != origin(prepared_request.url or ""):
            prepared_request.headers.pop("Authorization", None)


def _text(url: str | bytes | None) -> str:
    return url.decode("ascii", "replace") if isinstance(url, bytes) else url or ""


def _no_netrc(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Session-wide auth that adds nothing, so requests never falls back to ~/.netrc."""
    return request


def _cap_redirect_body(resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Response hook: read at most an error body's worth of a redirect we will follow.

    requests reads a redirect's whole body before following it, however long
    (an endless one never ends); this leaves it nothing more to read.
    """
    if resp.is_redirect:
        drain(resp)
    return resp


def new_session(pool_size: int = defaults.PROC) -> requests.Session:
    """A session tuned for registry traffic."""
    session = _Session()
    # With proxy variables set, trust_env stays on and requests would attach
    # ~/.netrc credentials to any request without auth of its own.
    session.auth = _no_netrc
    # Connection reuse matters more than anything else for many small blobs:
    # size the pool to the number of threads that share this session.
    adapter = deadline.WatchedAdapter(
        pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Drop every cookie. Harbor hands out a gorilla/csrf cookie on GET and then
    # rejects the next PUT or PATCH that carries it without the matching
    # X-Harbor-CSRF-Token header ("CSRF token invalid"); the registry API is
    # stateless, so cookies only ever hurt.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    # requests gathers cookies set on redirects in a per-request jar that the
    # policy above does not cover, so a response hook strips them at the source.
    session.hooks["response"].append(_drop_cookies)
    session.hooks["response"].append(_cap_redirect_body)
    session.headers["User-Agent"] = f"syncer/{_version()}"
    if not urllib.request.getproxies():
        # Without proxy variables there is nothing for requests to look up in
        # the environment, yet it would re-read it on every request (about 8%
        # of a cold sync's CPU). This also keeps ~/.netrc credentials from ever
        # reaching a registry. The CA bundle variables are honoured by the
        # client itself (see syncer.registry.trust).
        session.trust_env = False
    return session


def _version() -> str:
    from syncer import __version__

    return __version__


def send(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Send one request under a deadline, translating failures into :class:`TransportError`.

    A streamed response stays watched until :func:`iter_body` has read it or
    the response is dropped; until :func:`iter_body` starts, the answer
    deadline still runs, so a body read any other way is bounded too.
    """
    answer, why = waiting.answer_limit(url, deadline.limits().answer)
    watch = deadline.begin(f"{method} {strip_query(url)}", answer, why)
    if isinstance(kwargs.get("data"), SizedBody):
        kwargs["data"] = _metered(kwargs["data"], watch)
    started = time.monotonic()
    try:
        with deadline.current(watch):
            resp = _send(session, method, url, **kwargs)
        watch.check()  # cut off mid-answer, yet the body happened to parse
    except RegistryError as exc:
        watch.end()
        try:
            watch.check(exc.__cause__ or exc)
        except TransportError:  # the deadline cut it off
            waiting.unanswered(url, time.monotonic() - started)
            raise
        if isinstance(exc, TransportError):  # no answer came: reset, refused, TLS broke off
            waiting.unanswered(url, time.monotonic() - started)
        raise
    except BaseException:
        watch.end()
        raise
    if kwargs.get("stream"):
        _STREAMS[resp] = watch
        weakref.finalize(resp, watch.end)
        _end_on_close(resp, watch)
    else:
        watch.end()
    return resp


def _end_on_close(resp: requests.Response, watch: deadline.Watch) -> None:
    """Closing a streamed response ends its watch, read or not (most are closed unread)."""
    close = resp.close

    def closing() -> None:
        watch.end()
        close()

    resp.close = closing  # type: ignore[method-assign]


#: The watch of each streamed response not yet read to the end.
_STREAMS: weakref.WeakKeyDictionary[requests.Response, deadline.Watch] = weakref.WeakKeyDictionary()


def _metered(body: SizedBody, watch: deadline.Watch) -> SizedBody:
    """``body``, metered by ``watch`` while the socket takes it."""

    def pieces() -> Iterator[bytes]:
        watch.expect_stream()
        # Time spent pulling from ``body`` is the source's; time between a
        # yield and the next pull is the destination accepting the bytes.
        for piece in body:
            view = memoryview(piece)  # slices without copying
            for at in range(0, len(piece), defaults.STREAM_STEP):
                part = view[at : at + defaults.STREAM_STEP]
                with watch.flowing():
                    yield part  # type: ignore[misc]  # http.client sends any buffer
                watch.add(len(part))
        watch.expect_answer()

    return SizedBody(pieces(), len(body))


def _send(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", defaults.TIMEOUT)
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.SSLError as exc:
        text = f"{method} {strip_query(url)}: TLS error: {short(exc)}"
        if is_certificate_problem(exc):
            raise TLSError(text) from exc
        # An EOF or reset mid-handshake (a restarting load balancer) heals on retry.
        raise TLSHandshakeError(text) from exc
    except (
        requests.exceptions.TooManyRedirects,
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
    ) as exc:
        # A broken Location or redirect loop will not heal on retry.
        raise RegistryError(f"{method} {strip_query(url)}: {short(exc)}") from exc
    except requests.exceptions.Timeout as exc:
        raise TransportError(f"{method} {strip_query(url)}: timed out") from exc
    except requests.exceptions.RequestException as exc:
        failure = never_connected(exc)
        where = f"{method} {strip_query(url)}"
        if failure is not None:
            host, port, cause = failure
            why = shown(cause.strerror or "")
            if isinstance(cause, socket.gaierror):
                text = f"{where}: cannot resolve {shown(host)} ({why})"
                # EAI_AGAIN is the resolver saying "try again"; any other answer
                # (no such name, no address) stays so however often it is asked.
                if cause.errno != socket.EAI_AGAIN:
                    raise UnresolvableHostError(text) from exc
                raise TransportError(text) from exc
            # Refused or unreachable: one line, and worth a retry.
            raise TransportError(
                f"{where}: cannot connect to {shown(host)}:{port} ({why})"
            ) from exc
        raise TransportError(f"{where}: {short(exc)}") from exc


def iter_body(resp: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """Stream a response body, translating mid-body failures into :class:`TransportError`."""
    watch = _STREAMS.pop(resp, None) or deadline.Watch("", deadline.Limits())
    reads = _reads(resp, chunk_size, watch.limits.window)
    watch.expect_stream()
    try:
        while True:
            with watch.flowing():
                piece, broken = _gather(reads, chunk_size, watch)
            if piece:
                yield piece
            if broken is not None:
                raise broken
            if not piece:
                break
        watch.check()  # a body cut off by the watchdog can look complete
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
        watch.check(exc)
        raise TransportError(f"reading {strip_query(resp.url)}: {short(exc)}") from exc
    except OSError as exc:  # urllib3 can surface raw socket errors mid-body
        watch.check(exc)
        raise TransportError(f"reading {strip_query(resp.url)}: {shown(str(exc))}") from exc
    finally:
        watch.end()


def _reads(resp: requests.Response, largest: int, window: float) -> Iterator[bytes]:
    """The body in reads sized to last at most an eighth of a window at the rate seen so far.

    Small reads let the meter see a slow body progress; large ones keep a
    fast body cheap (each read costs tens of microseconds in urllib3). Read
    straight from urllib3, as ``iter_content`` would, but with a varying size.
    """
    raw = getattr(resp, "raw", None)
    if raw is None or getattr(resp, "_content_consumed", False):
        # Already read (requests keeps it), or not a urllib3 body: requests' own way.
        yield from resp.iter_content(largest)
        return
    smallest = min(largest, defaults.STREAM_STEP)
    decode = {"decode_content": True} if hasattr(raw, "stream") else {}
    step = smallest
    while True:
        started = time.monotonic()
        part = raw.read(step, **decode)
        took = time.monotonic() - started
        if not part:
            return
        # The size that would take window / 8 at this read's rate.
        fits = len(part) * window / 8
        step = largest if fits >= largest * took else max(smallest, int(fits / took))
        yield part


def _gather(
    reads: Iterator[bytes], size: int, watch: deadline.Watch
) -> tuple[bytes, BaseException | None]:
    """``size`` bytes or more (one read may overshoot) from ``reads``, credited as they land.

    A failure comes back beside the bytes that did arrive, so a resumed read
    starts right after them.
    """
    parts: list[bytes] = []
    got = 0
    try:
        while got < size:
            part = next(reads, b"")
            if not part:
                break
            watch.add(len(part))
            parts.append(part)
            got += len(part)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        return b"".join(parts), exc
    return (parts[0] if len(parts) == 1 else b"".join(parts)), None


def read_capped(resp: requests.Response, limit: int, what: str) -> bytes:
    """The whole body of ``resp``, or :class:`ResponseTooLargeError` once it passes ``limit``.

    ``resp`` should come from a ``stream=True`` request, so nothing was read
    before the cap applies. The bytes are kept on the response (``content``,
    ``json()``), and a refused body's connection is closed, not read on.
    """
    declared = untrusted.whole(resp.headers.get("Content-Length"))
    if declared is not None and declared > limit:
        resp.close()
        raise _too_large(resp, limit, what)
    buf = bytearray()
    for chunk in iter_body(resp, defaults.CAPPED_READ):
        buf += chunk
        if len(buf) > limit:
            resp.close()
            raise _too_large(resp, limit, what)
    return _keep(resp, bytes(buf))


def drain(resp: requests.Response, limit: int = defaults.MAX_ERROR_BODY) -> bytes:
    """At most ``limit`` bytes of a body we only glance at (errors, ignored replies).

    A body within ``limit`` is read to its end, so the connection goes back to
    the pool; a longer one is cut off by closing the connection, once per
    request, however large the server meant it to be.
    """
    buf = bytearray()
    try:
        for chunk in iter_body(resp, defaults.CAPPED_READ):
            buf += chunk
            if len(buf) > limit:
                resp.close()
                break
    except TransportError:
        resp.close()  # a body broken off mid-error still leaves its status to report
    return _keep(resp, bytes(buf[:limit]))


def _keep(resp: requests.Response, body: bytes) -> bytes:
    # requests' own cache of a read body, so later .content/.json() see these bytes.
    resp._content = body
    return body


def _too_large(resp: requests.Response, limit: int, what: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{what}: {strip_query(resp.url)} sent more than the {_size(limit)} cap; refused"
    )


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"
