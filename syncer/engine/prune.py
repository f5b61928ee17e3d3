"""Deletion mirroring: remove the extra tags a rule's scope holds at the destination, safely.

:func:`decide` marks each extra tag ``delete`` or ``kept`` (with why);
:class:`Deleter` deletes. The guard rails:

* only extra tags (:mod:`syncer.engine.verify`) of a rule whose source
  listing completed are candidates; a failed listing yields no extras, and an
  empty one (no source tag in scope) keeps every tag;
* the caller refuses a run with more candidates than ``--prune-max``;
* a registry that cannot delete a tag (distribution 2.x answers 400
  ``DIGEST_INVALID``, others 405) deletes by digest, which removes every tag
  pointing at it: a digest that a kept tag points at (or that a kept index
  holds, or the source still has) is never deleted that way, and its tag is
  reported ``kept`` with the tag that keeps it;
* before a delete by digest the tag is read again: one that moved is kept.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import cast

from syncer.engine.verify import Check, digest_of
from syncer.errors import HTTPError, SyncerError, describe
from syncer.oci import mediatypes
from syncer.oci.manifest import parse
from syncer.oci.reference import ImageRef, Repository
from syncer.registry.client import RegistryClient
from syncer.registry.pool import ClientPool
from syncer.registry.retry import retrying

log = logging.getLogger(__name__)

#: Error codes with which a registry refuses to delete a manifest by tag.
_NO_TAG_DELETE = frozenset({"DIGEST_INVALID", "UNSUPPORTED"})


def refuses_tags(exc: HTTPError) -> bool:
    """Whether a DELETE by tag failed because the registry deletes only by digest."""
    return exc.status == 405 or (exc.status == 400 and bool(_NO_TAG_DELETE & set(exc.codes)))


def decide(found: list[Check], kept: dict[str, str], why_not: str = "") -> list[Check]:
    """Mark each extra tag of one repository ``delete`` or ``kept``.

    ``kept`` maps the repository's other tags to their digests; ``why_not``,
    when set, keeps every tag (an empty or unknown source listing).
    """
    by_digest: dict[str, str] = {}
    for tag, digest in sorted(kept.items()):
        by_digest.setdefault(digest, tag)
    out: list[Check] = []
    for check in found:
        if why_not:
            out.append(dataclasses.replace(check, prune="kept", reason=why_not))
        elif not check.dest_digest:
            reason = f"kept: its digest could not be read ({check.reason or 'no digest'})"
            out.append(dataclasses.replace(check, prune="kept", reason=reason))
        elif check.dest_digest in by_digest:
            reason = (
                f"by tag only: {check.dest_digest} is also tagged "
                f"{by_digest[check.dest_digest]}, which is kept"
            )
            out.append(dataclasses.replace(check, prune="delete", reason=reason))
        else:
            out.append(dataclasses.replace(check, prune="delete", reason=""))
    return out


def kept_digests(
    pool: ClientPool, repo: Repository, tags: Iterable[str], known: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The digest each of ``tags`` points at (a tag gone since is left out).

    ``known`` maps references (``repo:tag``) a check has just read to their
    digests; only the others are read with a HEAD.
    """
    client = pool.for_repo(repo)
    out: dict[str, str] = {}
    for tag in tags:
        seen = (known or {}).get(f"{repo}:{tag}")
        if seen:
            out[tag] = seen
            continue
        head = retrying(lambda t=tag: client.head_manifest(repo, t), what=f"HEAD {repo}:{tag}")  # type: ignore[misc]
        if head is not None:
            out[tag] = digest_of(client, repo, tag, head)
    return out


class Deleter:
    """Deletes extra tags by tag, or by digest where the registry deletes only so."""

    def __init__(self, pool: ClientPool, protected: Iterable[str] = ()) -> None:
        self._pool = pool
        #: Digests never deleted by digest: what the source still has.
        self._protected = set(protected)
        self._digest_only: set[str] = set()
        self._children: dict[Repository, set[str]] = {}
        self._lock = threading.Lock()

    def delete(self, check: Check, kept: dict[str, str]) -> Check:
        """Delete one ``delete``-marked tag: the check comes back deleted, kept or failed."""
        ref = ImageRef.parse(check.dest)
        assert ref.tag is not None
        if ref.repo.is_layout:  # scope() gives an OCI layout no extras; deletes are for registries
            return dataclasses.replace(check, prune="kept", reason="kept: a layout is not pruned")
        client = cast(RegistryClient, self._pool.for_repo(ref.repo))
        try:
            if ref.repo.registry not in self._digest_only:
                try:
                    retrying(
                        lambda: client.delete_manifest(ref.repo, str(ref.tag)),
                        what=f"DELETE {ref}",
                    )
                    return dataclasses.replace(check, prune="deleted", reason="by tag")
                except HTTPError as exc:
                    if not refuses_tags(exc):
                        raise
                    log.info("%s deletes manifests by digest only", ref.repo.registry)
                    with self._lock:
                        self._digest_only.add(ref.repo.registry)
            return self._by_digest(client, ref, check, kept)
        except SyncerError as exc:
            return dataclasses.replace(check, prune="failed", reason=describe(exc))

    def _by_digest(
        self, client: RegistryClient, ref: ImageRef, check: Check, kept: dict[str, str]
    ) -> Check:
        digest, repo, tag = check.dest_digest, ref.repo, str(ref.tag)
        holder = next((t for t, d in sorted(kept.items()) if d == digest), None)
        if holder is not None:
            why = f"kept: the registry deletes by digest only, and {digest} is also tagged {holder}"
            return dataclasses.replace(check, prune="kept", reason=why)
        if digest in self._protected:
            why = f"kept: the registry deletes by digest only, and the source still has {digest}"
            return dataclasses.replace(check, prune="kept", reason=why)
        if digest in self._index_children(client, repo, kept):
            why = f"kept: the registry deletes by digest only, and a kept index holds {digest}"
            return dataclasses.replace(check, prune="kept", reason=why)
        head = retrying(lambda: client.head_manifest(repo, tag), what=f"HEAD {ref}")
        if head is None:  # gone with the digest of another extra tag deleted just before
            return dataclasses.replace(check, prune="deleted", reason=f"by digest {digest}")
        now = digest_of(client, repo, tag, head)
        if now != digest:
            why = f"kept: the tag moved to {now} since it was checked"
            return dataclasses.replace(check, prune="kept", reason=why)
        retrying(lambda: client.delete_manifest(repo, digest), what=f"DELETE {repo}@{digest}")
        return dataclasses.replace(check, prune="deleted", reason=f"by digest {digest}")

    def _index_children(
        self, client: RegistryClient, repo: Repository, kept: dict[str, str]
    ) -> set[str]:
        """Digests the kept tags' indexes hold (read once per repository)."""
        with self._lock:
            known = self._children.get(repo)
        if known is not None:
            return known
        children: set[str] = set()
        for digest in set(kept.values()):
            raw = retrying(
                lambda d=digest: client.get_manifest(repo, d),  # type: ignore[misc]
                what=f"GET {repo}@{digest}",
            )
            if raw.media_type in mediatypes.INDEX_TYPES:
                children.update(c.digest for c in parse(raw, f"{repo}@{digest}").children)
        with self._lock:
            self._children[repo] = children
        return children
