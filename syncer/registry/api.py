"""The registry operations the engine calls, whatever stores the images.

:class:`~syncer.registry.client.RegistryClient` speaks them over the
distribution API; :class:`~syncer.layout.client.LayoutClient` performs them
on OCI image layouts and archives on disk. The engine's copy path
(:mod:`syncer.engine.copypath`, :mod:`syncer.engine.transfer`) is written
against this protocol only, so filters, platforms and referrers work the
same for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import requests

from syncer.oci.models import ManifestHead, RawManifest, SizedBody
from syncer.oci.reference import Repository
from syncer.registry.tags import Fetch


class Registry(Protocol):
    """Where images are read from and written to: one API operation per method."""

    def head_manifest(
        self, repo: Repository, reference: str, *, push: bool = False
    ) -> ManifestHead | None:
        """A manifest's digest, media type and size; None if it does not exist."""

    def get_manifest(self, repo: Repository, reference: str) -> RawManifest:
        """A manifest's exact bytes, verified against a digest reference."""

    def put_manifest(self, repo: Repository, reference: str, manifest: RawManifest) -> str:
        """Store the manifest bytes unchanged under a tag or digest; return its digest."""

    def list_tags(
        self, repo: Repository, page_size: int = ..., fetch: Fetch | None = None
    ) -> Iterator[str]:
        """Every tag of ``repo``."""

    def blob_exists(self, repo: Repository, digest: str, *, push: bool = False) -> bool:
        """Whether ``repo`` holds the blob."""

    def open_blob(self, repo: Repository, digest: str, offset: int = 0) -> requests.Response:
        """A streamed response with the blob from ``offset`` (206) or from the start (200)."""

    def mount_blob(self, repo: Repository, digest: str, source: Repository) -> bool:
        """Make ``repo`` hold a blob ``source`` holds without sending it; True if done."""

    def start_upload(self, repo: Repository) -> str:
        """Open an upload session; return its handle."""

    def finish_upload(
        self, repo: Repository, url: str, digest: str, body: SizedBody | bytes | Iterator[bytes]
    ) -> None:
        """Send the (rest of the) blob and commit it under ``digest``."""

    def patch_upload(self, repo: Repository, url: str, body: SizedBody, start: int) -> str:
        """Append one chunk at ``start``; return the session handle for the next one."""

    def upload_offset(self, repo: Repository, url: str) -> tuple[str, int]:
        """How many bytes the session holds: ``(handle, offset)``."""

    def cancel_upload(self, repo: Repository, url: str) -> None:
        """Drop an upload session, best effort."""
