"""Plain ``requests`` to a registry: Basic auth, or a token when it sends a ``Bearer`` challenge.

The lab's pusher (:mod:`lab.push`) and the tests' reader (``tests/support/verify.py``)
talk to registries through it, apart from syncer's own client so that a bug
there cannot hide in what they write or read: a token per repository, fetched
from the realm the challenge names with the same credentials.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from lab.registry import LabError

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class TokenClient:
    """Requests for one repository each: with its token once one was issued, else Basic auth."""

    #: The actions a token asks for.
    actions = "pull"
    #: Seconds per request, and per token request.
    timeout = 30.0

    def __init__(
        self, session: requests.Session, auth: tuple[str, str] | None, verify: bool | str
    ) -> None:
        self.session, self.auth, self.verify = session, auth, verify
        self.tokens: dict[str, str] = {}

    def send(self, method: str, repo: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one request for ``repo``; a Bearer challenge is answered once, with a token."""
        resp = self._once(method, repo, url, **kwargs)
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code == 401 and challenge.startswith("Bearer ") and self.fetches(repo):
            resp.close()
            self.tokens[repo] = self._token(repo, challenge)
            resp = self._once(method, repo, url, **kwargs)
        return resp

    def fetches(self, repo: str) -> bool:
        """Whether a challenge for ``repo`` is answered with a (new) token: with credentials."""
        return self.auth is not None

    def _once(self, method: str, repo: str, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        auth = self.auth
        if repo in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[repo]}"
            auth = None
        # verify= per request: a session-level value loses to $REQUESTS_CA_BUNDLE.
        return self.session.request(
            method,
            url,
            headers=headers,
            auth=auth,
            verify=self.verify,
            timeout=self.timeout,
            **kwargs,
        )

    def _token(self, repo: str, challenge: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        query = {"service": params.get("service", ""), "scope": f"repository:{repo}:{self.actions}"}
        with self.session.get(
            params["realm"], params=query, auth=self.auth, verify=self.verify, timeout=self.timeout
        ) as resp:
            if resp.status_code != 200:
                raise LabError(f"token for {repo}: HTTP {resp.status_code}: {resp.text[:500]}")
            payload = resp.json()
        return str(payload.get("token") or payload["access_token"])
