"""A small Docker Registry HTTP API V2 / OCI distribution client.

Spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
One client talks to one registry host with one credential, on an injected
``requests.Session``. Every method is a single API operation; retries and
orchestration live above it, in :mod:`syncer.transfer` and the engine.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests
from urllib3.exceptions import InsecureRequestWarning

from syncer import defaults, digests, mediatypes, schema1
from syncer.credentials import AuthEntry
from syncer.errors import (
    AuthError,
    NotFoundError,
    RegistryError,
    TLSError,
    TLSHandshakeError,
)
from syncer.reference import Repository
from syncer.registry import replies, transport
from syncer.registry.auth import Authenticator
from syncer.registry.models import ManifestHead, RawManifest, SizedBody

if TYPE_CHECKING:
    from syncer.registry.tags import Fetch
from syncer.throttle import (
    DEFAULT_PAUSE,
    RATELIMIT_LOW_WATER,
    NoThrottle,
    Throttle,
    ratelimit_remaining,
)

log = logging.getLogger(__name__)


def pull_scope(repo: Repository) -> str:
    """Token scope for reading ``repo``."""
    return f"repository:{repo.path}:pull"


def push_scope(repo: Repository) -> str:
    """Token scope for writing ``repo``."""
    return f"repository:{repo.path}:pull,push"


def _at(repo: Repository, reference: str) -> str:
    """``repo:tag`` or ``repo@digest``, for messages."""
    return f"{repo}@{reference}" if ":" in reference else f"{repo}:{reference}"


def _verified(body: bytes, media: str, reference: str, what: str) -> RawManifest:
    """The manifest, checked against the digest it was asked for by.

    Signed schema1 digests cover the canonical payload, not the served bytes
    (:mod:`syncer.schema1`). Fetched by tag, its digest is what we computed:
    a ``Docker-Content-Digest`` header is never taken on trust.
    """
    covered = schema1.digested_bytes(body, media, what)
    if not digests.is_digest(reference):
        return RawManifest(body, media, digests.compute(covered))
    digests.verify(covered, reference, what)
    return RawManifest(body, media, reference)


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in ("localhost", "[::1]") or name.startswith("127.")


class RegistryClient:
    """Talks the distribution API to one registry host with one credential."""

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
        self._verify: str | bool = False if insecure else transport.ca_bundle()
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
        ours = transport.origin(url) == transport.origin(self.base_url)
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
        if transport.origin(resp.url) == transport.origin(base):
            return
        # A host we were sent to (a CDN by redirect, an upload Location, or a
        # hostile one) has no say in where this registry's credentials go.
        resp.close()
        raise AuthError(
            f"{what}: HTTP 401 from {transport.shown_host(resp.url)}, which is not "
            f"the registry {self.host}: its challenge is ignored",
            status=401,
            method=resp.request.method or "",
            url=transport.strip_query(resp.url),
        )

    def _observe(self, resp: requests.Response) -> None:
        """Tell the throttle when the registry asks everyone to slow down."""
        if resp.status_code == 429:
            self.throttle.pause(self.host, replies.retry_after(resp) or DEFAULT_PAUSE)
            return
        left = ratelimit_remaining(resp.headers.get("ratelimit-remaining"))
        if left is not None and left <= RATELIMIT_LOW_WATER:
            self.throttle.pause(self.host, DEFAULT_PAUSE * (RATELIMIT_LOW_WATER + 1 - left))

    def location(self, resp: requests.Response) -> str:
        """The absolute ``Location`` of an upload response (spec allows relative ones)."""
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(
                f"{resp.request.method} {transport.strip_query(resp.url)}: "
                "registry sent no Location header"
            )
        return urljoin(resp.url, loc)

    # -- manifests -------------------------------------------------------------
    def head_manifest(
        self, repo: Repository, reference: str, *, push: bool = False
    ) -> ManifestHead | None:
        """HEAD a manifest; None if it does not exist. Costs no pull on Docker Hub.

        ``push`` asks for the push scope up front when ``repo`` is a destination,
        so the token fetched here also serves the uploads that follow.
        """
        resp = self.request(
            "HEAD",
            repo.manifest_path(reference),
            (push_scope(repo) if push else pull_scope(repo),),
            what=f"HEAD manifest {_at(repo, reference)}",
            expect_404=True,
            headers={"Accept": mediatypes.MANIFEST_ACCEPT},
            allow_redirects=True,
        )
        resp.close()
        if resp.status_code == 404:
            return None
        # Some registries omit the digest on HEAD; "" tells the caller to GET.
        digest = resp.headers.get("Docker-Content-Digest", "")
        size = int(resp.headers.get("Content-Length") or 0)
        media = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return ManifestHead(digest, media, size)

    def get_manifest(self, repo: Repository, reference: str) -> RawManifest:
        """GET a manifest's exact bytes; by digest, they must hash to it or nothing is returned."""
        if digests.is_digest(reference):
            digests.parse(reference, f"manifest {repo}@{reference}")  # before it reaches a URL
        resp = self.request(
            "GET",
            repo.manifest_path(reference),
            (pull_scope(repo),),
            what=f"GET manifest {_at(repo, reference)}",
            headers={"Accept": mediatypes.MANIFEST_ACCEPT},
            stream=True,
        )
        body = transport.read_capped(
            resp, defaults.max_manifest(), f"manifest {_at(repo, reference)}"
        )
        media = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return _verified(body, media, reference, f"manifest {_at(repo, reference)}")

    def put_manifest(self, repo: Repository, reference: str, manifest: RawManifest) -> str:
        """PUT the manifest bytes unchanged under a tag or digest; return the stored digest."""
        resp = self.request(
            "PUT",
            repo.manifest_path(reference),
            (push_scope(repo),),
            what=f"PUT manifest {_at(repo, reference)}",
            data=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        resp.close()
        return resp.headers.get("Docker-Content-Digest") or manifest.digest

    def list_tags(
        self, repo: Repository, page_size: int = defaults.TAGS_PAGE, fetch: Fetch | None = None
    ) -> Iterator[str]:
        """Every tag of ``repo``, following ``Link`` pagination with loop and size caps.

        ``fetch`` wraps the read of each page (the engine retries with it).
        """
        from syncer.registry import tags  # it builds on this client

        return tags.iter_tags(self, repo, page_size, fetch or (lambda read: read()))

    # -- blobs -----------------------------------------------------------------
    def blob_exists(self, repo: Repository, digest: str, *, push: bool = False) -> bool:
        """HEAD a blob (with the push scope when ``repo`` is a destination)."""
        resp = self.request(
            "HEAD",
            repo.blob_path(digest),
            (push_scope(repo) if push else pull_scope(repo),),
            what=f"HEAD blob {repo}@{digest}",
            expect_404=True,
            allow_redirects=True,
        )
        resp.close()
        return resp.status_code != 404

    def open_blob(self, repo: Repository, digest: str, offset: int = 0) -> requests.Response:
        """Start streaming a blob, from ``offset`` if the registry honours Range."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        # requests follows the redirect to object storage and drops Authorization
        # when the host changes (Session.rebuild_auth), so a CDN never sees it.
        return self.request(
            "GET",
            repo.blob_path(digest),
            (pull_scope(repo),),
            what=f"GET blob {repo}@{digest}",
            stream=True,
            headers=headers,
        )

    def mount_blob(self, repo: Repository, digest: str, source: Repository) -> bool:
        """Cross-repository mount; True if the registry mounted it (201)."""
        resp = self.request(
            "POST",
            repo.upload_path(),
            (push_scope(repo), pull_scope(source)),
            what=f"mount {digest} from {source} into {repo}",
            params={"mount": digest, "from": source.path},
            data=b"",
            allow_redirects=False,
        )
        resp.close()
        if resp.status_code == 201:
            return True
        if resp.status_code == 202:
            # The registry could not mount and opened an upload session instead
            # (spec: "Mounting a blob from another repository"); close it.
            self.cancel_upload(repo, self.location(resp))
        return False

    def start_upload(self, repo: Repository) -> str:
        """Open an upload session; return its absolute URL."""
        resp = self.request(
            "POST",
            repo.upload_path(),
            (push_scope(repo),),
            what=f"start upload to {repo}",
            data=b"",
            allow_redirects=False,
        )
        resp.close()
        return self.location(resp)

    def finish_upload(
        self, repo: Repository, url: str, digest: str, body: SizedBody | bytes | Iterator[bytes]
    ) -> None:
        """PUT the (rest of the) blob and close the session with ``?digest=``."""
        resp = self.request(
            "PUT",
            url,
            (push_scope(repo),),
            what=f"upload {digest} to {repo}",
            params={"digest": digest},
            data=body,
            allow_redirects=False,
            headers={"Content-Type": "application/octet-stream"},
        )
        resp.close()

    def patch_upload(self, repo: Repository, url: str, body: SizedBody, start: int) -> str:
        """Send one chunk at ``start``; return the session URL for the next request."""
        end = start + len(body) - 1
        resp = self.request(
            "PATCH",
            url,
            (push_scope(repo),),
            what=f"upload chunk {start}-{end} to {repo}",
            data=body,
            allow_redirects=False,
            headers={"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{end}"},
        )
        resp.close()
        return self.location(resp)

    def upload_offset(self, repo: Repository, url: str) -> tuple[str, int]:
        """Ask an upload session how many bytes it holds: ``(url, offset)``."""
        resp = self.request(
            "GET", url, (push_scope(repo),), what=f"upload status in {repo}", allow_redirects=False
        )
        resp.close()
        # "Range: 0-<last byte>". distribution also says "0-0" for an empty
        # session, so read it as empty: at worst the next PATCH is refused with
        # 416 and the transfer asks again or starts over (transfer._chunked).
        rng = resp.headers.get("Range", "")
        last = int(rng.rsplit("-", 1)[1]) if "-" in rng else -1
        last = -1 if last == 0 else last
        next_url = self.location(resp) if resp.headers.get("Location") else url
        return next_url, last + 1

    def cancel_upload(self, repo: Repository, url: str) -> None:
        """Best-effort DELETE of an upload session."""
        try:
            self.request(
                "DELETE", url, (push_scope(repo),), what="cancel upload", expect_404=True
            ).close()
        except (NotFoundError, AuthError, RegistryError) as exc:
            log.debug("cancelling upload in %s failed: %s", repo, exc)
