"""A registry with the OCI 1.1 referrers API: a proxy that adds it to distribution 2.8.

:class:`ReferrersProxy` forwards everything to a real registry (a
:class:`~tests.support.faultproxy.FaultProxy`, so requests are recorded), and
itself answers what distribution 2.8 lacks (distribution-spec 1.1):

* a manifest ``PUT`` with a ``subject`` is forwarded, then remembered as a
  referrer of that subject, and answered with ``OCI-Subject``;
* ``GET /v2/<name>/referrers/<digest>`` answers an image index of those
  referrers, filtered by ``?artifactType=`` (with ``OCI-Filters-Applied``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs

from tests.support.faultproxy import Fault, FaultProxy, Recorded, _Handler

_REFERRERS = re.compile(r"^/v2/(?P<repo>.+)/referrers/(?P<digest>[a-z0-9]+:[a-f0-9]+)$")
_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/[^/]+$")
_INDEX = "application/vnd.oci.image.index.v1+json"


class ReferrersProxy(FaultProxy):
    """distribution 2.8 behind a proxy that serves the referrers API."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.listed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._store = threading.Lock()

    def _handler(self) -> type[_Handler]:
        return _ApiHandler

    def remember(self, repo: str, body: bytes, media_type: str) -> str | None:
        """Record a pushed manifest if it has a subject; return the subject's digest."""
        doc = json.loads(body)
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict):
            return None
        entry: dict[str, Any] = {
            "mediaType": doc.get("mediaType", media_type),
            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body),
            # Spec: artifactType, else the config's media type.
            "artifactType": doc.get("artifactType") or doc.get("config", {}).get("mediaType", ""),
        }
        if doc.get("annotations"):
            entry["annotations"] = doc["annotations"]
        with self._store:
            listed = self.listed.setdefault((repo, subject["digest"]), [])
            if all(e["digest"] != entry["digest"] for e in listed):
                listed.append(entry)
        return str(subject["digest"])


class _ApiHandler(_Handler):
    def _handle(self, record: Recorded, fault: Fault | None) -> None:
        api = _REFERRERS.match(record.path)
        put = _MANIFEST.match(record.path)
        if fault is None and self.command == "GET" and api:
            self._list(api["repo"], api["digest"], parse_qs(record.query))
        elif fault is None and self.command == "PUT" and put:
            self._put_manifest(record, put["repo"])
        else:
            super()._handle(record, fault)

    def _list(self, repo: str, digest: str, query: dict[str, list[str]]) -> None:
        proxy = self.server.proxy
        assert isinstance(proxy, ReferrersProxy)
        with proxy._store:
            entries = list(proxy.listed.get((repo, digest), []))
        headers = {"Content-Type": _INDEX}
        wanted = query.get("artifactType", [])
        if wanted:
            entries = [e for e in entries if e["artifactType"] in wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        body = json.dumps({"schemaVersion": 2, "mediaType": _INDEX, "manifests": entries})
        self._reply(200, body.encode(), headers)

    def _put_manifest(self, record: Recorded, repo: str) -> None:
        body = b"".join(self._request_body(record))
        upstream = http.client.HTTPConnection(self.server.proxy.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            upstream.request("PUT", self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
        finally:
            upstream.close()
        out = {k: v for k, v in resp.getheaders() if k.lower() in _KEPT}
        if resp.status == 201:
            proxy = self.server.proxy
            assert isinstance(proxy, ReferrersProxy)
            subject = proxy.remember(repo, body, self.headers.get("Content-Type", ""))
            if subject:
                out["OCI-Subject"] = subject
        record.status = resp.status
        self._reply(resp.status, data, out)

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


_KEPT = {"location", "docker-content-digest", "content-type", "docker-distribution-api-version"}
