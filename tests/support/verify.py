"""Check what a sync left at a registry, with plain ``requests`` and no syncer code.

:class:`RegistryReader` speaks just enough of the distribution API (HEAD and
GET of manifests and blobs, tags/list) with Basic or Bearer auth.
:func:`verify_image` asserts that a tag (or digest) answers with the expected
``Docker-Content-Digest`` under the full ``Accept`` list and that every blob
of every manifest it reaches (children of indexes included) answers HEAD 200.
:func:`access_log` parses a lab registry's access log.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import requests

from lab.registry import PROBE_AGENT, RegistryServer
from lab.tokenclient import TokenClient
from tests.support.serving import Started

#: Every manifest type a registry may serve, most specific first.
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_ACCESS = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) .*"(?P<agent>[^"]*)"$',
    re.MULTILINE,
)


@dataclass(frozen=True)
class Access:
    """One line of a registry's access log."""

    method: str
    path: str
    status: int


def access_log(server: RegistryServer) -> list[Access]:
    """Every request the registry logged, without the lab's readiness probes."""
    return [
        Access(m["method"], m["path"], int(m["status"]))
        for m in _ACCESS.finditer(server.log_text())
        if m["agent"] != PROBE_AGENT
    ]


def writes(server: RegistryServer) -> list[Access]:
    """The PUT, POST, PATCH and DELETE requests the registry logged."""
    return [a for a in access_log(server) if a.method in ("PUT", "POST", "PATCH", "DELETE")]


class RegistryReader(TokenClient, Started):
    """Read-only client for one registry; Basic or Bearer auth from ``auth``."""

    def __init__(
        self, url: str, *, auth: tuple[str, str] | None = None, verify: bool | str = True
    ) -> None:
        super().__init__(requests.Session(), auth, verify)
        self.url = url.rstrip("/")

    def close(self) -> None:
        """Close the session."""
        self.session.close()

    def start(self) -> None:
        """Nothing to start: the session connects on first use."""

    def stop(self) -> None:
        """Close the session (the end of a ``with`` block)."""
        self.close()

    def request(self, method: str, repo: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request for ``repo`` to ``path``, answering a 401 challenge once."""
        return self.send(method, repo, self.url + path, **kwargs)

    # -- the API -----------------------------------------------------------------
    def head_manifest(self, repo: str, ref: str) -> tuple[int, str]:
        """``(status, Docker-Content-Digest)`` of a manifest HEAD with the full Accept list."""
        with self.request(
            "HEAD", repo, f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}
        ) as resp:
            return resp.status_code, resp.headers.get("Docker-Content-Digest", "")

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str]:
        """The manifest's bytes and media type; asserts 200."""
        with self.request(
            "GET", repo, f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}
        ) as resp:
            assert resp.status_code == 200, f"GET {repo}:{ref}: {resp.status_code} {resp.text}"
            return resp.content, resp.headers.get("Content-Type", "").split(";")[0]

    def blob_status(self, repo: str, digest: str) -> int:
        """Status of a blob HEAD."""
        with self.request("HEAD", repo, f"/v2/{repo}/blobs/{digest}") as resp:
            return resp.status_code

    def tags(self, repo: str) -> list[str]:
        """The repository's tags; empty when it has none or does not exist."""
        with self.request("GET", repo, f"/v2/{repo}/tags/list") as resp:
            if resp.status_code == 404:
                return []
            assert resp.status_code == 200, resp.text
            return sorted(resp.json().get("tags") or [])


def children_and_blobs(body: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """The child manifest descriptors and blob digests a manifest references."""
    doc = json.loads(body)
    children = list(doc.get("manifests") or [])
    blobs = [doc["config"]["digest"]] if doc.get("config") else []
    blobs += [layer["digest"] for layer in doc.get("layers") or []]
    return children, blobs


def verify_image(reader: RegistryReader, repo: str, ref: str, digest: str) -> None:
    """Assert ``repo:ref`` has ``digest`` and everything it references is present."""
    status, got = reader.head_manifest(repo, ref)
    assert status == 200, f"HEAD {reader.url}/{repo}:{ref}: {status}"
    assert got == digest, f"{repo}:{ref}: digest {got}, expected {digest}"
    _verify_tree(reader, repo, digest, depth=0)


def _verify_tree(reader: RegistryReader, repo: str, digest: str, depth: int) -> None:
    assert depth <= 4, f"{repo}@{digest}: nested too deep"
    body, _ = reader.get_manifest(repo, digest)
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest, f"{repo}@{digest}: bad bytes"
    children, blobs = children_and_blobs(body)
    for blob in blobs:
        assert reader.blob_status(repo, blob) == 200, f"{repo}: blob {blob} missing"
    for child in children:
        status, got = reader.head_manifest(repo, child["digest"])
        assert (status, got) == (200, child["digest"]), f"{repo}: child {child['digest']}"
        _verify_tree(reader, repo, child["digest"], depth + 1)
