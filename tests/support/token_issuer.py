"""A small Docker-registry token server for tests, independent of syncer.

It implements the token endpoint of
https://distribution.github.io/distribution/spec/auth/token/ (``GET`` with
``service``, ``scope``…; and the OAuth2 ``POST`` password grant of
https://distribution.github.io/distribution/spec/auth/oauth/). Known users get
every action they ask for; anonymous callers get only ``anonymous_actions``.

Tokens are RS256 JWTs. distribution 2.8 verifies them against its
``rootcertbundle`` through the ``x5c`` header: the signing certificate must
chain to (here: be) a certificate in that bundle. It also checks ``iss`` and
``aud``, and ``exp``/``nbf`` with 60 s of leeway, so an expired token keeps
working at the registry for another minute.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.certs import SelfSigned
from tests.support.serving import ServedInThread


@dataclass(frozen=True)
class TokenRequest:
    """One request the issuer answered."""

    method: str
    account: str | None
    service: str
    scopes: tuple[str, ...]
    status: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer(ServedInThread):
    """A threaded HTTP token server on 127.0.0.1."""

    def __init__(
        self,
        signer: SelfSigned,
        *,
        service: str = "syncer-lab-registry",
        issuer: str = "syncer-lab-issuer",
        users: dict[str, str] | None = None,
        expires_in: int = 300,
        anonymous_actions: frozenset[str] = frozenset(),
    ) -> None:
        self.signer = signer
        self.service = service
        self.issuer = issuer
        self.users = dict(users or {})
        self.expires_in = expires_in
        self.anonymous_actions = anonymous_actions
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        """The token endpoint URL, as the registry's ``auth.token.realm``."""
        assert self._server is not None, "issuer not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    @property
    def count(self) -> int:
        """How many token requests were answered so far."""
        with self._lock:
            return len(self.requests)

    def start(self) -> None:
        """Listen on a free port in a background thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.issuer = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="token-issuer")
        self._thread.start()

    def record(self, request: TokenRequest) -> None:
        """Remember one answered request."""
        with self._lock:
            self.requests.append(request)

    def grant(self, account: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        """The ``access`` claim for ``scopes``, as far as ``account`` may have it."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if account else [a for a in wanted if a in self.anonymous_actions]
            access.append({"type": kind, "name": name, "actions": granted})
        return access

    def sign(self, account: str | None, access: list[dict[str, Any]]) -> dict[str, Any]:
        """A token response body with a freshly signed JWT."""
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.signer.cert_der).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self.signer.key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        token = f"{signing_input}.{_b64url(signature)}"
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        return {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": issued.isoformat().replace("+00:00", "Z"),
        }


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    @property
    def issuer(self) -> TokenIssuer:
        return self.server.issuer  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; :attr:`TokenIssuer.requests` is the record."""

    def do_GET(self) -> None:
        self._answer("GET", parse_qs(urlsplit(self.path).query))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        self._answer("POST", form)

    def _answer(self, method: str, params: dict[str, list[str]]) -> None:
        if urlsplit(self.path).path != "/token":
            return self._reply(method, None, "", [], 404, {"error": "not found"})
        scopes = [s for param in params.get("scope", []) for s in param.split()]
        service = params.get("service", [""])[0]
        account, ok = self._account(method, params)
        if not ok:
            return self._reply(method, account, service, scopes, 401, {"error": "unauthorized"})
        if service != self.issuer.service:
            return self._reply(method, account, service, scopes, 400, {"error": "bad service"})
        body = self.issuer.sign(account, self.issuer.grant(account, scopes))
        self._reply(method, account, service, scopes, 200, body)

    def _account(self, method: str, params: dict[str, list[str]]) -> tuple[str | None, bool]:
        """The authenticated user (None when anonymous), and whether the credentials held."""
        if method == "POST" and params.get("grant_type") == ["password"]:
            user, password = params.get("username", [""])[0], params.get("password", [""])[0]
        else:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None, True
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None, False
        known = self.issuer.users.get(user)
        return user, known is not None and secrets.compare_digest(known, password)

    def _reply(
        self,
        method: str,
        account: str | None,
        service: str,
        scopes: list[str],
        status: int,
        body: dict[str, Any],
    ) -> None:
        self.issuer.record(TokenRequest(method, account, service, tuple(scopes), status))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="syncer-lab-issuer"')
        self.end_headers()
        self.wfile.write(data)
