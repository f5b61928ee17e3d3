"""Registry authentication as a flow: send, read the 401 challenge, retry with credentials.

Two schemes exist in the wild (distribution spec, "Token Authentication
Specification": https://distribution.github.io/distribution/spec/auth/token/):

* ``Basic``: the username and password go on every request (ECR, htpasswd).
* ``Bearer``: trade them (or nothing, for anonymous pulls) at the ``realm``
  for a short-lived token scoped to ``repository:<name>:<actions>``.

Tokens are cached per scope set and refreshed when they expire or when the
registry answers ``insufficient_scope`` / ``invalid_token``.

Where a credential can leave the process (the audit; nothing else attaches one):

1. :meth:`RegistryClient.request <syncer.registry.client.RegistryClient.request>`
   sets ``Authorization`` (Basic, or a Bearer token) only on a URL with the
   registry's own origin (scheme, host, port); an upload ``Location`` or a
   ``Link`` elsewhere goes anonymous.
2. On a redirect, the session (:func:`syncer.registry.transport.new_session`)
   drops ``Authorization`` whenever the origin changes, https to http and
   port changes included, and never reads ``~/.netrc``. Only GET and HEAD
   follow redirects; a write that is redirected fails.
3. :meth:`Authenticator._fetch_token` sends Basic ``user:password``, and
   :meth:`Authenticator._refresh_grant` an identity token, to the Bearer
   realm. The challenge naming that realm is learnt only from a 401 whose
   final URL has the registry's origin (never from a redirect target). The
   realm may be on another host (Docker Hub's is ``auth.docker.io``) but must
   be https when the registry is, and a credentialed token request follows
   no redirect.

(The checkout's ``lab/push.py``, not installed, has its own requests, for seeding test
registries only.)
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from syncer import defaults, untrusted
from syncer.errors import AuthError, HTTPError
from syncer.registry import replies, transport, urls
from syncer.registry.credentials import IDENTITY_TOKEN, AuthEntry

log = logging.getLogger(__name__)

#: Characters of an RFC 9110 ``token`` (section 5.6.2).
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _auth_params(text: str) -> dict[str, str]:
    """``name=value`` pairs of a challenge, in one pass over ``text`` (no regex).

    Values are tokens or quoted strings with backslash escapes (RFC 9110
    section 11.2). Anything that is not a pair is skipped up to the next
    comma; each character is read a bounded number of times, so the cost is
    linear in the header's length whatever a server sends.
    """
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        start = i
        while i < n and text[i] in _TCHAR:
            i += 1
        name = text[start:i].lower()
        while i < n and text[i] in " \t":
            i += 1
        if not name or i >= n or text[i] != "=":
            while i < n and text[i] != ",":
                i += 1
            continue
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            value, i = _quoted(text, i + 1)
        else:
            start = i
            while i < n and text[i] not in " \t,":
                i += 1
            value = text[start:i]
        params.setdefault(name, value)
    return params


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The quoted string that starts at ``text[i]`` (after its opening quote), and where it ends."""
    out: list[str] = []
    n = len(text)
    while i < n and text[i] != '"':
        if text[i] == "\\" and i + 1 < n:
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out), i + 1


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, header: str) -> Challenge | None:
        """Parse ``Bearer realm="…",service="…"`` or ``Basic realm="…"``."""
        if len(header) > defaults.MAX_CHALLENGE:
            raise AuthError(
                f"WWW-Authenticate header is {len(header)} characters; "
                f"at most {defaults.MAX_CHALLENGE} are read",
                status=401,
            )
        header = header.strip()
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        return cls(scheme.lower(), _auth_params(rest))


def _lifetime(expires_in: object) -> float:
    """Seconds a token lives: the issuer's finite ``expires_in`` clamped to a sane range.

    NaN, infinities and 1e400 (which JSON parses as infinity) fall back to the
    spec's default, as an absent value does; bools are not numbers here.
    """
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float, str)):
        return defaults.TOKEN_LIFETIME
    try:
        seconds = float(expires_in)
    except ValueError:
        return defaults.TOKEN_LIFETIME
    if not math.isfinite(seconds) or seconds <= 0:
        return defaults.TOKEN_LIFETIME
    return min(seconds, defaults.MAX_TOKEN_LIFETIME)


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float


class Authenticator:
    """Produces the ``Authorization`` header for one registry and one credential."""

    def __init__(
        self, session: requests.Session, credentials: AuthEntry | None, verify: bool | str
    ) -> None:
        self._session = session
        self._creds = credentials
        self._verify = verify
        self._lock = threading.Lock()
        self.challenge: Challenge | None = None
        self._tokens: dict[frozenset[str], _Token] = {}
        #: The scheme of the registry that sent the challenge.
        self._home_scheme = "https"
        #: How many tokens were fetched; tests assert tokens are reused.
        self.token_requests = 0

    @property
    def has_credentials(self) -> bool:
        """Whether a username and password are configured."""
        return bool(self._creds and self._creds.username is not None)

    def header(self, scopes: tuple[str, ...]) -> str | None:
        """The ``Authorization`` value to send for ``scopes``, or None for anonymous."""
        ch = self.challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            return self._basic() if self.has_credentials else None
        if ch.scheme == "bearer":
            return f"Bearer {self._token(scopes)}"
        return None

    def unauthorized(self, resp: requests.Response, scopes: tuple[str, ...]) -> bool:
        """Learn from a 401; return whether retrying with fresh auth can help.

        The caller makes sure ``resp`` came from the registry itself, not from
        a host it redirected to: the challenge decides where credentials go.
        """
        header = resp.headers.get("WWW-Authenticate", "")
        ch = Challenge.parse(header)
        if ch is None:
            return False
        first_time = self.challenge is None or self.challenge.scheme != ch.scheme
        with self._lock:
            self._home_scheme = urlsplit(resp.url).scheme.lower()
            self.challenge = Challenge(
                ch.scheme, {k: v for k, v in ch.params.items() if k in ("realm", "service")}
            )
            stale = self._tokens.pop(frozenset(scopes), None)
        if ch.scheme == "basic":
            return first_time and self.has_credentials
        # Bearer: retry if we had no token yet, or the registry says ours is
        # stale or too narrow (spec: error="insufficient_scope"/"invalid_token").
        return (
            first_time
            or stale is not None
            or ch.params.get("error")
            in (
                "insufficient_scope",
                "invalid_token",
            )
        )

    def _refresh_grant(self, realm: str, scopes: tuple[str, ...]) -> requests.Response:
        """Trade an identity (refresh) token for an access token.

        docker stores identity tokens as username ``<token>``; they are never a
        Basic password (spec: https://distribution.github.io/distribution/spec/auth/oauth/).
        """
        assert self.challenge is not None and self._creds is not None
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._creds.password or "",
            "service": self.challenge.params.get("service", ""),
            "scope": " ".join(sorted(scopes)),
            "client_id": "syncer",
        }
        return transport.send(
            self._session,
            "POST",
            realm,
            data=form,
            verify=self._verify,
            allow_redirects=False,
            stream=True,
        )

    def _basic(self) -> str:
        assert self._creds is not None
        raw = f"{self._creds.username}:{self._creds.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _token(self, scopes: tuple[str, ...]) -> str:
        key = frozenset(scopes)
        with self._lock:
            tok = self._tokens.get(key)
            if tok and tok.expires_at > time.monotonic():
                return tok.value
            tok = self._fetch_token(scopes)
            self._tokens[key] = tok
            return tok.value

    def _realm(self) -> str:
        """The challenge's realm, if credentials (when we have them) may go there."""
        assert self.challenge is not None
        realm = self.challenge.params.get("realm")
        if not realm:
            raise AuthError("Bearer challenge without realm", status=401)
        scheme = urlsplit(realm).scheme.lower()
        if scheme not in ("http", "https"):
            raise AuthError("Bearer realm is not an http(s) URL", status=401)
        if scheme == "http" and self._home_scheme == "https" and self.has_credentials:
            # Anyone on the path could read a password sent in the clear; the
            # registry itself is https, so this is not what the user agreed to.
            raise AuthError(
                f"token realm {urls.shown_host(realm)} is plain http while the registry "
                "is https: credentials not sent",
                status=401,
            )
        return realm

    def _fetch_token(self, scopes: tuple[str, ...]) -> _Token:
        assert self.challenge is not None
        realm = self._realm()
        params: list[tuple[str, str]] = []
        if "service" in self.challenge.params:
            params.append(("service", self.challenge.params["service"]))
        params.extend(("scope", s) for s in sorted(scopes))
        self.token_requests += 1
        if self._creds is not None and self._creds.username == IDENTITY_TOKEN:
            resp = self._refresh_grant(realm, scopes)
        else:
            headers = {"Authorization": self._basic()} if self.has_credentials else {}
            resp = transport.send(
                self._session,
                "GET",
                realm,
                params=params,
                headers=headers,
                verify=self._verify,
                # Anonymous requests carry nothing worth protecting.
                allow_redirects=not headers,
                stream=True,
            )
        what = f"token request for {' '.join(scopes) or 'registry'}"
        # requests would drop Authorization off-host but forward a POST body
        # (the refresh token) on 307/308; no token service we know redirects.
        replies.refuse_redirect(resp, what, AuthError)
        try:
            replies.check(resp, what)
        except HTTPError as exc:
            if exc.status in (401, 403):
                raise AuthError(str(exc), status=exc.status, url=exc.url) from None
            raise
        raw = transport.read_capped(resp, defaults.MAX_TOKEN_REPLY, "token reply")
        try:
            body = untrusted.loads(raw)
            value = body.get("token") or body.get("access_token")
            lifetime = _lifetime(body.get("expires_in"))
        except (ValueError, AttributeError, TypeError) as exc:
            raise AuthError(
                "token response is not JSON with a token",
                status=resp.status_code,
                url=urls.strip_query(resp.url),
            ) from exc
        if not isinstance(value, str) or not value:
            raise AuthError("token response carries no token", status=resp.status_code)
        log.debug("fetched token for %s (lifetime %.0fs)", " ".join(scopes), lifetime)
        return _Token(value, time.monotonic() + max(lifetime - defaults.TOKEN_EXPIRY_MARGIN, 1.0))
