"""The sync engine: plain functions that both executors call.

* :func:`resolve` compares source and destination with HEAD requests, and for
  an image that needs copying reads its manifest tree from the source: the
  manifests to push, in order, and the blobs they need.
* :func:`push_manifests` pushes children before their index and the tag last;
  :func:`push_with_recheck` does so, and when the registry lacks a blob the
  cache promised, forgets the image's cache entries, copies again and pushes again.
* :func:`copy_and_record` copies one blob, mounting it from repositories the
  cache knows hold it, and records it once the destination confirmed it.

Turning a rule into :class:`TagJob` s (and failing a rule that cannot be
listed) is :mod:`syncer.engine.expansion`'s.

The cache is anything with the :class:`KnownBlobs` methods: the embedded
executor's in-memory or file cache and the fleet's Redis cache alike.

The embedded executor (:mod:`syncer.embedded.executor`) runs these on threads; the
Celery workers (``workers/``) run them as tasks. Neither lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from syncer import defaults, metrics
from syncer.config.platformchoice import PlatformChoice
from syncer.engine.blobreader import never
from syncer.engine.expansion import NO_FILTER
from syncer.engine.jobs import TagJob
from syncer.engine.platforms import mismatch as image_mismatch
from syncer.engine.transfer import BlobCopier, Outcome, ignore_bytes
from syncer.errors import (
    ConfigError,
    DigestMismatchError,
    NotFoundError,
    ResponseTooLargeError,
    SyncerError,
    UnsupportedError,
)
from syncer.oci import digests, mediatypes
from syncer.oci.manifest import Descriptor, Parsed, PlatformFilter, filter_index, parse
from syncer.oci.models import ManifestHead, RawManifest
from syncer.oci.reference import Repository, shown_digest
from syncer.registry.api import Registry
from syncer.registry.pool import ClientPool
from syncer.registry.retry import retrying

log = logging.getLogger(__name__)


__all__ = [
    "KnownBlobs",
    "Resolved",
    "copy_and_record",
    "is_blob_unknown",
    "push_manifests",
    "push_with_recheck",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A resolved image: skip it, or push these manifests after these blobs."""

    job: TagJob
    source_digest: str = ""
    skip: str = ""
    note: str = ""
    #: An unchanged image's media type from its HEAD ("" when not known).
    media_type: str = ""
    #: (reference, manifest) in push order; the last one is the tag (or digest).
    pushes: list[tuple[str, RawManifest]] = field(default_factory=list)
    blobs: dict[str, Descriptor] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """Bytes of every blob the image references."""
        return sum(max(d.size, 0) for d in self.blobs.values())


def resolve(
    job: TagJob,
    pool: ClientPool,
    *,
    force: bool = False,
    platforms: PlatformFilter = NO_FILTER,
) -> Resolved:
    """Decide whether ``job`` needs copying and, if so, what exactly.

    A job from a rule with ``platforms:`` filters by those, not by ``platforms``.
    """
    if job.platforms:
        platforms = PlatformChoice(choices=job.platforms)
    src, dst = pool.for_repo(job.source.repo), pool.for_repo(job.dest.repo)
    src_repo, dst_repo = job.source.repo, job.dest.repo
    head = retrying(
        lambda: src.head_manifest(src_repo, job.source.reference), what=f"HEAD {job.source}"
    )
    if head is None:
        raise NotFoundError(
            f"{job.source}: MANIFEST_UNKNOWN: manifest unknown",
            status=404,
            errors=[{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}],
        )
    pin = _pin(job, head)
    filtering = platforms.active and head.media_type in mediatypes.INDEX_TYPES
    dst_ref = job.dest.tag or job.dest.digest or ""
    dst_head = None
    if not force:
        dst_head = retrying(
            lambda: dst.head_manifest(dst_repo, dst_ref, push=True), what=f"HEAD {job.dest}"
        )
        # Unchanged: the destination holds the pinned digest, and the source was never pulled.
        if (
            digests.is_digest(pin)
            and dst_head is not None
            and not filtering
            and dst_head.digest == pin
        ):
            return Resolved(job, pin, skip="unchanged", media_type=head.media_type)
    # Fetched by digest, the bytes must hash to it (Registry.get_manifest).
    top = retrying(lambda: src.get_manifest(src_repo, pin), what=f"GET {job.source}")
    walk = _Walk(str(job.source), defaults.max_tree_bytes())
    walk.took(top)
    source_digest, note = top.digest, ""
    parsed = parse(top, str(job.source))
    if parsed.kind == "index" and platforms.active:
        top, dropped = filter_index(top, parsed, platforms)
        if dropped:
            parsed = parse(top, str(job.source))
            note = (
                f"platform filter kept {len(parsed.children)} of "
                f"{len(parsed.children) + dropped} manifests"
            )
            if not parsed.children:
                skip = "no manifest matches the platform filter"
                return Resolved(job, source_digest, skip=skip, note=note)
            if not force and dst_head is not None and dst_head.digest == top.digest:
                return Resolved(job, source_digest, skip="unchanged", note=note)
    if parsed.kind != "index" and platforms.active:
        # A single image carries its platform in its config blob (image-syncer reads it too).
        skip = image_mismatch(src, src_repo, top, parsed, platforms)
        if skip:
            return Resolved(job, source_digest, skip=skip)
    if job.dest.digest is not None and job.dest.digest != top.digest:
        # A tag pushed to a destination digest (image-syncer's `src:v1 -> dst@sha256:…`):
        # the registry would refuse the bytes, so say why before copying blobs.
        raise ConfigError(f"{job.dest}: {job.source} is {top.digest}, not the destination's digest")
    out = Resolved(job, source_digest, note=note)
    _collect(src, src_repo, top, parsed, out, walk, depth=0)
    out.pushes.append((job.dest.tag or top.digest, top))
    return out


def _pin(job: TagJob, head: ManifestHead) -> str:
    """The reference to GET: the requested digest, else the HEAD's digest, else the tag.

    A digest reference means exactly those bytes, so what the source's HEAD
    reports for it is never substituted: the GET by the requested digest
    decides, and a HEAD that disagrees is only reported.
    """
    wanted = job.source.digest
    if wanted is not None:
        if head.digest and head.digest != wanted:
            log.warning(
                "%s: source HEAD reported digest %s; fetching the requested digest",
                job.source,
                shown_digest(head.digest),
            )
        return wanted
    if not head.digest:
        return job.source.reference  # some registries omit the digest on HEAD
    digests.parse(head.digest, f"HEAD {job.source}: Docker-Content-Digest")
    return head.digest


@dataclass(slots=True)
class _Walk:
    """One image tree's walk: the manifests it fetched, against the caps per image."""

    image: str
    max_bytes: int
    bytes: int = 0
    entries: int = 0
    #: Child digests already fetched (or being fetched): each is fetched once.
    seen: set[str] = field(default_factory=set)

    def took(self, raw: RawManifest) -> None:
        """Count a fetched manifest's bytes; every manifest of the tree is held until the push."""
        self.bytes += len(raw.body)
        if self.bytes > self.max_bytes:
            raise ResponseTooLargeError(
                f"{self.image}: its manifests pass the {_mib(self.max_bytes)} cap per image "
                "($SYNCER_MAX_TREE_BYTES); refused"
            )

    def listed(self, raw: RawManifest, parsed: Parsed) -> None:
        """Count an index's entries against the caps per index and per tree."""
        count, most = len(parsed.children), defaults.MAX_INDEX_CHILDREN
        if count > most:
            raise UnsupportedError(
                f"{self.image}: index {raw.digest} lists {count} manifests; "
                f"at most {most} are followed"
            )
        self.entries += count
        if self.entries > defaults.MAX_TREE_CHILDREN:
            raise UnsupportedError(
                f"{self.image}: its indexes list more than {defaults.MAX_TREE_CHILDREN} "
                "manifests in all"
            )


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


def _collect(
    src: Registry,
    repo: Repository,
    raw: RawManifest,
    parsed: Parsed,
    out: Resolved,
    walk: _Walk,
    depth: int,
) -> None:
    """Gather child manifests (pushed by digest, before their parent) and blobs."""
    if depth > defaults.MAX_DEPTH:
        raise UnsupportedError(
            f"{repo}@{raw.digest}: index nested deeper than {defaults.MAX_DEPTH}"
        )
    walk.listed(raw, parsed)
    for blob in parsed.blobs:
        out.blobs.setdefault(blob.digest, blob)
    for child in parsed.children:
        if child.digest in walk.seen:
            continue
        walk.seen.add(child.digest)
        craw = retrying(
            lambda c=child: src.get_manifest(repo, c.digest),  # type: ignore[misc]
            what=f"GET {repo}@{child.digest}",
        )
        walk.took(craw)
        if not craw.media_type:
            craw = RawManifest(craw.body, child.media_type, craw.digest)
        _collect(src, repo, craw, parse(craw, f"{repo}@{child.digest}"), out, walk, depth + 1)
        out.pushes.append((child.digest, craw))


def push_manifests(resolved: Resolved, pool: ClientPool) -> None:
    """Push every manifest of ``resolved``: children by digest first, the tag last; confirm it.

    Each PUT's answered digest must be the one sent (the client checks), and
    then one HEAD, the request a later no-op run makes, must find the tag on
    the pushed digest: a registry that answers 201 and stores nothing, or
    stores something else, fails the image instead of being believed.
    """
    dst = pool.for_repo(resolved.job.dest.repo)
    repo = resolved.job.dest.repo
    for reference, raw in resolved.pushes:
        retrying(
            lambda r=reference, m=raw: dst.put_manifest(repo, r, m),  # type: ignore[misc]
            what=f"PUT {repo}:{reference}",
        )
    if resolved.pushes:
        _confirm(dst, resolved.job, *resolved.pushes[-1])


def _confirm(dst: Registry, job: TagJob, reference: str, raw: RawManifest) -> None:
    """Raise :class:`DigestMismatchError` unless ``reference`` now resolves to ``raw``."""
    repo, what = job.dest.repo, f"{job.dest} after the push"
    head = retrying(lambda: dst.head_manifest(repo, reference, push=True), what=f"HEAD {job.dest}")
    if head is None:
        raise DigestMismatchError(what, raw.digest, "no manifest at all (HTTP 404)")
    got = head.digest
    if not got or got.split(":", 1)[0] != raw.digest.split(":", 1)[0]:
        # No digest on HEAD, or one in another algorithm: the bytes themselves decide.
        body = retrying(lambda: dst.get_manifest(repo, reference), what=f"GET {job.dest}").body
        got = raw.digest if body == raw.body else digests.compute(body)
    if got != raw.digest:
        raise DigestMismatchError(what, raw.digest, shown_digest(got))


def is_blob_unknown(exc: Exception) -> bool:
    """Whether a manifest push failed because the registry lacks a referenced blob."""
    codes = getattr(exc, "codes", [])
    return any(c in ("MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN") for c in codes)


class KnownBlobs(Protocol):
    """The part of a blob cache the copy path uses: where blobs are known to exist."""

    def add(self, registry: str, repo: str, digest: str) -> None:
        """Record that the destination confirmed ``digest`` in ``registry/repo``."""

    def discard(self, registry: str, repo: str, digest: str) -> None:
        """Forget a stale entry."""

    def repos_with(self, registry: str, digest: str) -> list[str]:
        """Repositories of ``registry`` known to hold ``digest`` (for mounts)."""


def copy_and_record(
    copier: BlobCopier,
    cache: KnownBlobs,
    src: Repository,
    dst: Repository,
    desc: Descriptor,
    *,
    also: Sequence[Repository] = (),
    before_record: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Copy one blob, mounting it from ``also`` or a cached repository; then cache it.

    ``before_record`` runs between the copy and the cache entry: the fleet
    settles the blob's bytes there, so an image that finds the blob cached
    never settles them as "already there" first.
    """
    known = [Repository(dst.registry, r) for r in cache.repos_with(dst.registry, desc.digest)]
    outcome = copier.copy(src, dst, desc, mount_from=[*also, *known])
    metrics.recorder().blob(src.registry, dst.registry, outcome)
    if before_record is not None:
        before_record(outcome)
    cache.add(dst.registry, dst.path, desc.digest)
    return outcome


def push_with_recheck(
    resolved: Resolved,
    pool: ClientPool,
    cache: KnownBlobs,
    *,
    on_bytes: Callable[[int], None] = ignore_bytes,
    stop: Callable[[], bool] = never,
) -> None:
    """Push ``resolved``; if the registry lacks a blob, re-check every blob and push again.

    The cache is an optimisation and the registry the truth: a blob the cache
    promised may have been garbage collected, so each of the image's entries
    is dropped and its blob checked with HEAD (and copied if gone).
    """
    try:
        push_manifests(resolved, pool)
    except SyncerError as exc:
        if not is_blob_unknown(exc):
            raise
        job = resolved.job
        src, dst = job.source.repo, job.dest.repo
        log.info("%s: destination lacks a cached blob; re-checking", job.label)
        copier = BlobCopier(pool.for_repo(src), pool.for_repo(dst), on_bytes=on_bytes, stop=stop)
        for desc in resolved.blobs.values():
            cache.discard(dst.registry, dst.path, desc.digest)
            copier.copy(src, dst, desc)
            cache.add(dst.registry, dst.path, desc.digest)
        push_manifests(resolved, pool)
