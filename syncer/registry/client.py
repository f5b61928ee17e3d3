"""A small Docker Registry HTTP API V2 / OCI distribution client.

Spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
One client talks to one registry host with one credential, on an injected
``requests.Session``. Every method is a single API operation; retries and
orchestration live above it, in :mod:`syncer.engine.transfer` and the engine. The
authenticated exchange under them is :class:`~syncer.registry.connection.RegistryConnection`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import requests

from syncer import defaults, untrusted
from syncer.errors import (
    AuthError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    UnsupportedError,
)
from syncer.oci import digests, mediatypes, schema1
from syncer.oci.models import ManifestHead, RawManifest, SizedBody
from syncer.oci.reference import Repository
from syncer.registry import tags, transport
from syncer.registry.connection import (
    RegistryConnection,
    delete_scope,
    pull_scope,
    push_scope,
)
from syncer.registry.tags import Fetch
from syncer.text import shown

log = logging.getLogger(__name__)


def _at(repo: Repository, reference: str) -> str:
    """``repo:tag`` or ``repo@digest``, for messages."""
    return f"{repo}@{reference}" if ":" in reference else f"{repo}:{reference}"


def _verified(body: bytes, media: str, reference: str, what: str) -> RawManifest:
    """The manifest, checked against the digest it was asked for by.

    Signed schema1 digests cover the canonical payload, not the served bytes
    (:mod:`syncer.oci.schema1`). Fetched by tag, its digest is what we computed:
    a ``Docker-Content-Digest`` header is never taken on trust.
    """
    covered = schema1.digested_bytes(body, media, what)
    if not digests.is_digest(reference):
        return RawManifest(body, media, digests.compute(covered))
    digests.verify(covered, reference, what)
    return RawManifest(body, media, reference)


def _names(stored: str, manifest: RawManifest, what: str) -> bool:
    """Whether ``stored``, a digest in another algorithm than ours, names the bytes we sent."""
    try:
        algorithm = digests.parse(stored, what).algorithm
    except UnsupportedError:
        return False
    if algorithm == digests.parse(manifest.digest, what).algorithm:
        return False
    covered = schema1.digested_bytes(manifest.body, manifest.media_type, what)
    return digests.compute(covered, algorithm) == stored


def _check_stored(resp: requests.Response, digest: str, what: str) -> None:
    """Refuse a blob answer whose ``Docker-Content-Digest`` names other bytes than ``digest``.

    One in another algorithm cannot be checked without hashing the blob again,
    and is let through: the tag check after the push still catches a
    registry that stored nothing.
    """
    stored = resp.headers.get("Docker-Content-Digest", "")
    if not stored or stored == digest:
        return
    try:
        same_algorithm = digests.parse(stored, what).algorithm == digest.split(":", 1)[0]
    except UnsupportedError:
        same_algorithm = True  # not a digest at all: nothing it could name is ours
    if same_algorithm:
        raise DigestMismatchError(f"{what} (Docker-Content-Digest)", digest, shown(stored))
    log.debug("%s: registry answered digest %s; not checked", what, shown(stored))


class RegistryClient(RegistryConnection):
    """Talks the distribution API to one registry host with one credential."""

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
        size = untrusted.whole(resp.headers.get("Content-Length")) or 0
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
        """PUT the manifest bytes unchanged under a tag or digest; return the stored digest.

        A ``Docker-Content-Digest`` answer must name the bytes sent: a
        registry that says it stored something else fails the push.
        """
        what = f"PUT manifest {_at(repo, reference)}"
        resp = self.request(
            "PUT",
            repo.manifest_path(reference),
            (push_scope(repo),),
            what=what,
            data=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        resp.close()
        stored = resp.headers.get("Docker-Content-Digest", "")
        if stored and stored != manifest.digest and not _names(stored, manifest, what):
            raise DigestMismatchError(
                f"{what} (Docker-Content-Digest)", manifest.digest, shown(stored)
            )
        return manifest.digest

    def delete_manifest(self, repo: Repository, reference: str) -> bool:
        """DELETE a manifest by tag or digest; False when it was already gone (404).

        Spec: "Deleting tags" and "Deleting Manifests". Deleting by digest
        removes every tag that points at it; registries without tag deletion
        (distribution 2.x) refuse a tag with 400 or 405, which is raised.
        """
        if digests.is_digest(reference):
            digests.parse(reference, f"manifest {repo}@{reference}")  # before it reaches a URL
        resp = self.request(
            "DELETE",
            repo.manifest_path(reference),
            (delete_scope(repo),),
            what=f"DELETE manifest {_at(repo, reference)}",
            expect_404=True,
        )
        resp.close()
        return resp.status_code != 404

    def list_tags(
        self, repo: Repository, page_size: int = defaults.TAGS_PAGE, fetch: Fetch | None = None
    ) -> Iterator[str]:
        """Every tag of ``repo``, following ``Link`` pagination with loop and size caps.

        ``fetch`` wraps the read of each page (the engine retries with it).
        """
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
            _check_stored(resp, digest, f"mount {digest} into {repo}")
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
        what = f"upload {digest} to {repo}"
        resp = self.request(
            "PUT",
            url,
            (push_scope(repo),),
            what=what,
            params={"digest": digest},
            data=body,
            allow_redirects=False,
            headers={"Content-Type": "application/octet-stream"},
        )
        resp.close()
        _check_stored(resp, digest, what)

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
        first, _, end = rng.partition("-")
        last = untrusted.whole(end) if untrusted.whole(first) is not None else None
        last = last or -1  # none, garbage, or "0-0": an empty session
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
