"""The authenticated exchange with one registry host, below the API operations.

:class:`RegistryConnection` picks the scheme (``GET /v2/``), sends each
request with the credential for its scopes, retries a 401 once after the
token flow, refuses challenges and redirected writes from other origins, and
tells the throttle when the registry asks to slow down.
:class:`~syncer.registry.client.RegistryClient` builds the distribution API on it.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any
from urllib.parse import urljoin

import requests
from urllib3.exceptions import InsecureRequestWarning

from syncer import defaults, metrics
from syncer.errors import AuthError, RegistryError, TLSError, TLSHandshakeError
from syncer.oci.reference import Repository
from syncer.registry import replies, transport, trust, urls
from syncer.registry.auth import Authenticator
from syncer.registry.credentials import AuthEntry
from syncer.registry.throttle import NoThrottle, Throttle, ratelimit_remaining


def pull_scope(repo: Repository) -> str:
    """Token scope for reading ``repo``."""
    return f"repository:{repo.path}:pull"


def push_scope(repo: Repository) -> str:
    """Token scope for writing ``repo``."""
    return f"repository:{repo.path}:pull,push"


def delete_scope(repo: Repository) -> str:
    """Token scope for deleting from ``repo`` (distribution's ``delete`` action)."""
    return f"repository:{repo.path}:delete"


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in ("localhost", "[::1]") or name.startswith("127.")


class RegistryConnection:
    """Sends authenticated requests to one registry host with one credential."""

    def __init__(
        self,
        host: str,
        credentials: AuthEntry | None = None,
        *,
        insecure: bool = False,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.host = host
        self.throttle: Throttle = throttle or NoThrottle()
        self.insecure = insecure
        self._session = session or transport.new_session()
        self._verify: str | bool = False if insecure else trust.verify_for(host)
        if insecure:
            # The user asked for unverified TLS for this registry, and the pool
            # logs that once; urllib3 would warn on every request. The filter is
            # process-wide because catch_warnings() is not thread-safe.
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        self.auth = Authenticator(self._session, credentials, self._verify)
        self._base: str | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the session's connections."""
        self._session.close()

    # -- plumbing ---------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``https://host`` or, where allowed and needed, ``http://host``."""
        if self._base is None:
            with self._lock:
                if self._base is None:
                    self._base = self._probe()
        return self._base

    def _probe(self) -> str:
        """Pick the scheme and learn the auth challenge with ``GET /v2/``."""
        # Plain HTTP is allowed for insecure registries and, as docker does, for
        # loopback; HTTPS is always tried first.
        candidates = ["https"]
        if self.insecure or _is_loopback(self.host):
            candidates.append("http")
        last: TLSHandshakeError | None = None
        for scheme in candidates:
            base = f"{scheme}://{self.host}"
            try:
                resp = transport.send(
                    self._session, "GET", base + "/v2/", verify=self._verify, stream=True
                )
            except TLSError:
                # A certificate we do not trust is an answer, not a reason to
                # downgrade: only a port that does not speak TLS falls back.
                raise
            except TLSHandshakeError as exc:
                last = exc
                continue
            if resp.status_code == 401:
                self._refuse_foreign(resp, base, f"ping {self.host}")
                self.auth.unauthorized(resp, ())
            elif resp.status_code == 400 and last is not None:
                resp.close()
                raise last  # plain HTTP sent to a TLS port
            elif resp.status_code >= 400:
                replies.check(resp, f"ping {self.host}")
            transport.drain(resp)
            resp.close()
            return base
        assert last is not None
        raise last

    def request(
        self,
        method: str,
        target: str,
        scopes: tuple[str, ...],
        *,
        what: str,
        expect_404: bool = False,
        stream: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one authenticated request; raise on error status unless it is an expected 404.

        Every request streams, so no body is read unbounded: with ``stream``
        the caller reads the body (capped or streamed), otherwise at most
        :data:`defaults.MAX_ERROR_BODY` of it is kept (see :func:`transport.drain`).
        """
        url = target if "://" in target else self.base_url + target
        # Credentials go only to the registry itself: an upload Location or any
        # other absolute URL on another origin (scheme, host, port) gets none.
        ours = urls.origin(url) == urls.origin(self.base_url)
        headers: dict[str, str] = dict(kwargs.pop("headers", None) or {})
        body = kwargs.get("data")
        replayable = body is None or isinstance(body, bytes)
        kwargs.setdefault("verify", self._verify)
        if method not in ("GET", "HEAD"):
            # The spec redirects only reads; a redirected write would take the
            # body (a manifest, a layer) to a host the user never named.
            kwargs["allow_redirects"] = False
        for attempt in (1, 2):
            auth = self.auth.header(scopes) if ours else None
            if auth:
                headers["Authorization"] = auth
            self.throttle.wait(self.host)
            resp = transport.send(
                self._session, method, url, headers=headers, stream=True, **kwargs
            )
            self._observe(resp)
            if resp.status_code == 401:
                self._refuse_foreign(resp, self.base_url, what)
                if attempt == 1 and replayable and ours and self.auth.unauthorized(resp, scopes):
                    transport.drain(resp)
                    resp.close()
                    continue
            break
        if not kwargs.get("allow_redirects", True):
            replies.refuse_redirect(resp, what)
        if (resp.status_code < 400 and not stream) or (expect_404 and resp.status_code == 404):
            transport.drain(resp)
            return resp
        try:
            return replies.check(resp, what)
        finally:
            if resp.status_code >= 400:
                resp.close()

    def _refuse_foreign(self, resp: requests.Response, base: str, what: str) -> None:
        """Raise on a 401 from any origin but the registry's, before anything learns from it."""
        if urls.origin(resp.url) == urls.origin(base):
            return
        # A host we were sent to (a CDN by redirect, an upload Location, or a
        # hostile one) has no say in where this registry's credentials go.
        resp.close()
        raise AuthError(
            f"{what}: HTTP 401 from {urls.shown_host(resp.url)}, which is not "
            f"the registry {self.host}: its challenge is ignored",
            status=401,
            method=resp.request.method or "",
            url=urls.strip_query(resp.url),
        )

    def _observe(self, resp: requests.Response) -> None:
        """Tell the throttle when the registry asks everyone to slow down."""
        if resp.status_code == 429:
            metrics.recorder().rate_limited(self.host)
            metrics.recorder().backoff(self.host, "throttle")
            self.throttle.pause(self.host, replies.retry_after(resp) or defaults.RATELIMIT_PAUSE)
            return
        left = ratelimit_remaining(resp.headers.get("ratelimit-remaining"))
        if left is not None and left <= defaults.RATELIMIT_LOW_WATER:
            metrics.recorder().backoff(self.host, "throttle")
            pause = defaults.RATELIMIT_PAUSE * (defaults.RATELIMIT_LOW_WATER + 1 - left)
            self.throttle.pause(self.host, pause)

    def location(self, resp: requests.Response) -> str:
        """The absolute ``Location`` of an upload response (spec allows relative ones)."""
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(
                f"{resp.request.method} {urls.strip_query(resp.url)}: "
                "registry sent no Location header"
            )
        return urljoin(resp.url, loc)
