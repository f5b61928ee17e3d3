"""Config files, destination checks and scripted destinations shared by hostile tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import requests
import yaml

from tests.support.hostile import (
    DOCKER_MANIFEST,
    HostileRegistry,
    Pool,
    Reply,
    make_image,
    sha256,
)

#: Peak RSS of a syncer process that streamed nothing large.
RSS_MIB = 150


def write_images(tmp: Path, rules: dict[str, str], auth: dict[str, Any] | None = None) -> list[str]:
    """Write images.yaml (and auth.yaml); return the CLI arguments for them."""
    images = tmp / "images.yaml"
    images.write_text(yaml.safe_dump(rules))
    args = ["--images", str(images)]
    if auth is not None:
        path = tmp / "auth.yaml"
        path.write_text(yaml.safe_dump(auth))
        args += ["--auth", str(path)]
    return args


def dest_manifest(url: str, repo: str, tag: str) -> bytes | None:
    """The manifest bytes ``url`` holds for ``repo:tag``, or None if it holds none."""
    got = requests.get(
        f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": DOCKER_MANIFEST}, timeout=5
    )
    return got.content if got.status_code == 200 else None


def dest_tags(url: str, repo: str) -> list[str]:
    """The tags ``url`` lists for ``repo`` (none if the repository does not exist)."""
    got = requests.get(f"{url}/v2/{repo}/tags/list", timeout=5)
    return sorted(got.json().get("tags") or []) if got.status_code == 200 else []


def tags_at(url: str, repo: str) -> list[str]:
    """The tags ``repo`` has at the registry at ``url`` (none if the repository is unknown)."""
    resp = requests.get(f"{url}/v2/{repo}/tags/list", timeout=10)
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    return list(resp.json().get("tags") or [])


def has_blob(url: str, repo: str, digest: str) -> bool:
    """Whether ``repo`` at ``url`` holds the blob ``digest``."""
    resp = requests.head(f"{url}/v2/{repo}/blobs/{digest}", timeout=10)
    return resp.status_code == 200


def stalling_destination(hostile: Pool) -> Any:
    """A destination that accepts small uploads and stops reading any body over 1 MiB."""
    dst = hostile(lifetime=90)
    dst.route(
        "POST",
        r"^/v2/mirror/app/blobs/uploads/$",
        lambda r: r.send(202, headers={"Location": "/v2/mirror/app/blobs/uploads/s1"}),
    )

    def put(r: Reply) -> None:
        if int(r.headers.get("Content-Length") or 0) > 1 << 20:
            r.hang()
            return
        body = r.read_body()
        r.send(201, headers={"Docker-Content-Digest": sha256(body)})

    dst.route("PUT", r"^/v2/mirror/app/blobs/uploads/s1$", put)
    return dst


def _accepting_uploads(dst: HostileRegistry, repo: str, echo: bool) -> None:
    """Open upload sessions and answer every blob PUT 201 (with the digest sent, if ``echo``)."""
    name = re.escape(repo)
    uploads = f"/v2/{repo}/blobs/uploads/"
    session = {"Location": uploads + "s1"}
    dst.route("POST", rf"^/v2/{name}/blobs/uploads/$", lambda r: r.send(202, headers=session))

    def put(r: Reply) -> None:
        r.read_body()
        digest = dict(p.split("=", 1) for p in r.query.split("&") if "=" in p).get("digest", "")
        r.send(201, headers={"Docker-Content-Digest": unquote(digest)} if echo else {})

    dst.route("PUT", rf"^/v2/{name}/blobs/uploads/s1$", put)


def digest_liar(dst: HostileRegistry, repo: str, admit: bool = False) -> bytes:
    """A destination that serves other bytes under every tag than were pushed.

    Its manifest PUT answers the other manifest's digest, or (``admit``) the
    digest of what was pushed. Returns the manifest it serves.
    """
    other = make_image("what the liar serves").manifest
    _accepting_uploads(dst, repo, echo=True)
    name = re.escape(repo)

    def put(r: Reply) -> None:
        body = r.read_body()
        r.send(201, headers={"Docker-Content-Digest": sha256(body if admit else other)})

    def get(r: Reply) -> None:
        ref = r.path.rsplit("/", 1)[1]
        if ":" in ref and ref != sha256(other):
            r.send_json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": ref}]})
            return
        r.send(
            200, other, {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": sha256(other)}
        )

    dst.route("PUT", rf"^/v2/{name}/manifests/[^/]+$", put)
    dst.route("GET", rf"^/v2/{name}/manifests/[^/]+$", get)
    return other


def black_hole(dst: HostileRegistry, repo: str) -> None:
    """A destination that answers 201/202 to every write, echoing its digest, and stores nothing."""
    _accepting_uploads(dst, repo, echo=True)

    def put(r: Reply) -> None:
        r.send(201, headers={"Docker-Content-Digest": sha256(r.read_body())})

    dst.route("PUT", rf"^/v2/{re.escape(repo)}/manifests/[^/]+$", put)


def silent_manifests(src: HostileRegistry, repo: str) -> None:
    """Manifest GETs of ``repo`` are read and never answered (HEADs answer, without a digest)."""

    def silent(r: Reply) -> None:
        if r.method == "HEAD":
            r.send(200, headers={"Content-Type": DOCKER_MANIFEST})
        else:
            r.hang()

    src.route("GET", rf"^/v2/{re.escape(repo)}/manifests/", silent)


def always_429(src: HostileRegistry, repo: str, retry_after: str) -> None:
    """Every manifest request of ``repo`` is refused with 429 and ``Retry-After``."""

    def refuse(r: Reply) -> None:
        body = {"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}
        r.send_json(429, body, {"Retry-After": retry_after})

    src.route("GET", rf"^/v2/{re.escape(repo)}/manifests/", refuse)


def challenge_flood(src: HostileRegistry, lines: int, length: int) -> None:
    """``GET /v2/`` answers 401 with ``lines`` WWW-Authenticate headers, each a long token, no '='.

    The challenge regex this replaced backtracked quadratically on such a token
    (64 KB: 35 s), holding the GIL so that not even SIGTERM could stop it.
    """
    flood = [("WWW-Authenticate", "Bearer " + "a" * length)] * lines

    def answer(r: Reply) -> None:
        r.start(401, [*flood, ("Content-Length", "0")])

    src.route("GET", r"^/v2/$", answer)


class TokenIssuer:
    """Bearer auth on every ``/v2/`` request of a server; its realm answers ``expires_in`` raw.

    ``expires_in`` is written into the JSON as is (``NaN``, ``1e400``), and
    :attr:`issued` counts the token requests.
    """

    def __init__(self, server: HostileRegistry, expires_in: str) -> None:
        self.server, self.issued = server, 0
        self._expires_in = expires_in
        self._challenge = f'Bearer realm="{server.url}/token",service="hostile"'
        server.gate = self._gate
        server.route("GET", r"^/token$", self._token)

    def _gate(self, r: Reply) -> bool:
        if not r.path.startswith("/v2/") or r.headers.get("Authorization", "").startswith(
            "Bearer "
        ):
            return False
        body = b'{"errors": [{"code": "UNAUTHORIZED", "message": "token needed"}]}'
        r.send(401, body, {"WWW-Authenticate": self._challenge, "Content-Type": "application/json"})
        return True

    def _token(self, r: Reply) -> None:
        self.issued += 1
        body = f'{{"token": "tok-{self.issued}", "expires_in": {self._expires_in}}}'.encode()
        r.send(200, body, {"Content-Type": "application/json"})


def bearer_everywhere(src: HostileRegistry, expires_in: str) -> TokenIssuer:
    """See :class:`TokenIssuer`."""
    return TokenIssuer(src, expires_in)
