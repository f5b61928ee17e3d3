"""Manifest trees built to cost: indexes that repeat a child, huge trees, referrers that multiply.

Served by a :class:`~tests.support.hostile.HostileRegistry`. Bodies are made
on demand from a small description, so a source can offer a 400 MB tree or
tens of thousands of referrers without the test holding them, and
:meth:`ManifestSource.fetched` says what syncer really asked for.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable

from tests.support.hostile import HostileRegistry, Reply, sha256

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
#: The OCI empty descriptor's blob, the config of every manifest made here.
EMPTY = b"{}"
#: What the referrers made here say they are.
SIGNATURE = "application/vnd.example.signature.v1"
_INDEX_START = b'{"schemaVersion":2,"mediaType":"' + OCI_INDEX.encode()


def image_manifest(label: str, pad: int = 0, subject: tuple[str, int] | None = None) -> bytes:
    """A distinct OCI image manifest with no layers, padded to about ``pad`` more bytes."""
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": sha256(EMPTY), "size": len(EMPTY)},
        "layers": [],
        "annotations": {"label": label, "pad": "p" * pad},
    }
    if subject is not None:
        doc["artifactType"] = SIGNATURE
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject[0], "size": subject[1]}
    return json.dumps(doc, separators=(",", ":")).encode()


def index_of(children: list[bytes], repeat: int = 1, media_type: str | None = None) -> bytes:
    """An OCI index listing each of ``children`` ``repeat`` times, in the fewest bytes.

    Without ``media_type`` the entries carry none (the child's GET says it),
    so a 4 MiB index lists about 40,000 of them.
    """
    return index_listing([(sha256(c), len(c)) for c in children] * repeat, media_type)


def index_listing(entries: list[tuple[str, int]], media_type: str | None = None) -> bytes:
    """An OCI index of ``(digest, size)`` entries, each of ``media_type`` if given."""
    listed: list[dict[str, object]] = [{"digest": d, "size": n} for d, n in entries]
    if media_type:
        for entry in listed:
            entry["mediaType"] = media_type
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}
    return json.dumps(doc, separators=(",", ":")).encode()


class ManifestSource:
    """``repo:tag`` is ``top``; other manifests come by digest from ``make`` (None: unknown).

    Records how often each digest was fetched, and serves the empty config blob.
    """

    def __init__(
        self,
        server: HostileRegistry,
        repo: str,
        tag: str,
        top: bytes,
        make: Callable[[str], bytes | None],
    ) -> None:
        self.server, self.top, self._make = server, top, make
        self.fetched: dict[str, int] = {}
        self._lock = threading.Lock()
        name = re.escape(repo)
        server.route("GET", rf"^/v2/{name}/manifests/[^/]+$", self._manifest(tag))
        server.route("GET", rf"^/v2/{name}/blobs/{re.escape(sha256(EMPTY))}$", _empty_blob)
        server.route("GET", rf"^/v2/{name}/tags/list$", lambda r: r.send_json(200, {"tags": [tag]}))

    def _manifest(self, tag: str) -> Callable[[Reply], None]:
        def answer(r: Reply) -> None:
            ref = r.path.rsplit("/", 1)[1]
            body = self.top if ref in (tag, sha256(self.top)) else self._make(ref)
            if body is None:
                r.send_json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": ref}]})
                return
            if r.method == "GET":
                with self._lock:
                    self.fetched[ref] = self.fetched.get(ref, 0) + 1
            media = OCI_INDEX if body.startswith(_INDEX_START) else OCI_MANIFEST
            r.send(200, body, {"Content-Type": media, "Docker-Content-Digest": sha256(body)})

        return answer

    def gets(self) -> int:
        """Manifest GETs of anything but the top manifest."""
        with self._lock:
            return sum(n for ref, n in self.fetched.items() if ref != sha256(self.top))


def _empty_blob(r: Reply) -> None:
    r.send(200, EMPTY, {"Content-Type": OCI_EMPTY, "Docker-Content-Digest": sha256(EMPTY)})


def repeated_child_tree(
    server: HostileRegistry, repo: str, tag: str, subs: int, repeat: int
) -> ManifestSource:
    """``subs`` distinct sub-indexes, each listing one and the same image ``repeat`` times."""
    child = image_manifest("the one child")
    made = {sha256(child): child}
    listed: list[bytes] = []
    for n in range(subs):
        # Each sub-index also lists a distinct image of its own, so no two are equal.
        other = image_manifest(f"other {n}")
        sub = index_of([child] * repeat + [other])
        made[sha256(other)], made[sha256(sub)] = other, sub
        listed.append(sub)
    return ManifestSource(server, repo, tag, index_of(listed, media_type=OCI_INDEX), made.get)


def wide_tree(
    server: HostileRegistry, repo: str, tag: str, children: int, size: int
) -> ManifestSource:
    """An index of ``children`` distinct images of ``size`` bytes each, made when asked for."""
    numbers: dict[str, int] = {}
    entries: list[tuple[str, int]] = []
    for n in range(children):
        body = _padded(n, size)
        numbers[sha256(body)] = n
        entries.append((sha256(body), len(body)))
    top = index_listing(entries, OCI_MANIFEST)

    def make(digest: str) -> bytes | None:
        n = numbers.get(digest)
        return None if n is None else _padded(n, size)

    return ManifestSource(server, repo, tag, top, make)


def _padded(n: int, size: int) -> bytes:
    bare = len(image_manifest(f"child {n}"))
    return image_manifest(f"child {n}", max(size - bare, 0))


class ReferrerStorm(ManifestSource):
    """An image whose every manifest has ``per_subject`` referrers, at any depth, made on demand.

    ``GET /v2/<repo>/referrers/<digest>`` lists them for the image and for any
    referrer already listed; :attr:`listed` counts those answers.
    """

    def __init__(self, server: HostileRegistry, repo: str, tag: str, per_subject: int) -> None:
        top = image_manifest("the subject")
        self.made: dict[str, bytes] = {sha256(top): top}
        super().__init__(server, repo, tag, top, self._known)
        self.per_subject, self.listed = per_subject, 0
        server.route("GET", rf"^/v2/{re.escape(repo)}/referrers/[^/]+$", self._referrers)

    def _known(self, digest: str) -> bytes | None:
        with self._lock:
            return self.made.get(digest)

    def _referrers(self, r: Reply) -> None:
        subject = r.path.rsplit("/", 1)[1]
        body = self._known(subject)
        if body is None:
            r.send_json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": subject}]})
            return
        made = [
            image_manifest(f"{subject} #{n}", subject=(subject, len(body)))
            for n in range(self.per_subject)
        ]
        with self._lock:
            self.listed += 1
            self.made.update((sha256(m), m) for m in made)
        entries = [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(m),
                "size": len(m),
                "artifactType": SIGNATURE,
            }
            for m in made
        ]
        r.send_json(200, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})


def referrer_storm(server: HostileRegistry, repo: str, tag: str, per_subject: int) -> ReferrerStorm:
    """See :class:`ReferrerStorm`."""
    return ReferrerStorm(server, repo, tag, per_subject)
