"""Verify a mirror: every tag a rule selects, compared at source and destination by digest.

A rule is expanded exactly as ``sync`` expands it (:func:`expand_rule`), and
each image is checked with HEAD requests only (a GET only where the registry
sends no digest, or where a platform filter rewrites an index, since then the
digest the destination should hold is the filtered one). Each tag comes out
as one :class:`Check`:

``same``        the destination holds the digest the source has
``missing``     the destination has no such tag
``different``   the destination holds another digest (both are given)
``extra``       the destination has a tag within the rule's scope that the source does not
``unreadable``  either side could not be read (with the reason)

A rule's *scope* is where it owns the destination: only a repo-wide or regex
rule has one, and only for destinations that keep the source's tag names.
A destination tag is in scope when the rule's key would select it and its
per-tag filters (``include``, ``exclude``, ``semver``) pass it; a tag another
rule writes to the same repository is never extra.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from syncer.config.platformchoice import PlatformChoice
from syncer.config.rules import Destination, Rule
from syncer.engine.copypath import Resolved
from syncer.engine.expansion import NO_FILTER, expand_rule
from syncer.engine.jobs import ImageResult, TagJob
from syncer.engine.platforms import mismatch as image_mismatch
from syncer.engine.referrers import Follower
from syncer.errors import BadNameError, CancelledError, NotFoundError, SyncerError, describe
from syncer.oci import digests, mediatypes
from syncer.oci.manifest import PlatformFilter, filter_index, parse
from syncer.oci.models import ManifestHead
from syncer.oci.reference import ImageRef, Repository, server_tag
from syncer.registry.api import Registry
from syncer.registry.pool import ClientPool
from syncer.registry.retry import retrying

log = logging.getLogger(__name__)

Status = Literal["same", "missing", "different", "extra", "unreadable"]
#: Every status, in the order reports list their totals.
STATUSES: tuple[Status, ...] = ("same", "missing", "different", "extra", "unreadable")


@dataclass(frozen=True, slots=True)
class Check:
    """How one destination tag compares with its source."""

    status: Status
    #: The source reference ("" for an extra tag; the rule's key when it could not be listed).
    source: str
    dest: str
    rule: str
    source_digest: str = ""
    dest_digest: str = ""
    reason: str = ""
    #: For an extra tag under ``--prune``: ``delete``, ``deleted``, ``kept`` or ``failed``.
    prune: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives, every field present (the ``--output json`` row)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        """Inverse of :meth:`to_dict`."""
        status = str(data["status"])
        if status not in STATUSES:
            raise SyncerError(f"unknown verify status {status!r}")
        fields = ("source", "dest", "rule", "source_digest", "dest_digest", "reason", "prune")
        return cls(status, **{k: str(data.get(k, "")) for k in fields})


def check_job(job: TagJob, pool: ClientPool, platforms: PlatformFilter = NO_FILTER) -> Check | None:
    """Compare one image; None when ``sync`` would not copy it (no platform matches)."""
    try:
        return _compare(job, pool, platforms)
    except CancelledError:
        raise
    except SyncerError as exc:
        return Check("unreadable", str(job.source), str(job.dest), job.rule, reason=describe(exc))


def check_image(
    job: TagJob,
    pool: ClientPool,
    platforms: PlatformFilter = NO_FILTER,
    follower: Follower | None = None,
) -> list[Check]:
    """:func:`check_job`, then (with a ``follower``) each referrer the destination lacks.

    Only an image that is the same at both ends has its referrers checked (the
    others are already drift); a referrer the destination does not list comes
    out as its own row, checked by digest like any image.
    """
    check = check_job(job, pool, platforms)
    if check is None:
        return []
    if follower is None or check.status != "same":
        return [check]
    try:
        found = follower.find(job, Resolved(job, check.source_digest, skip="unchanged"), None)
    except CancelledError:
        raise
    except SyncerError as exc:
        why = f"referrers: {describe(exc)}"
        return [check, Check("unreadable", str(job.source), str(job.dest), job.rule, reason=why)]
    rows = [check_job(ref, pool) for ref in found]
    return [check, *(r for r in rows if r is not None)]


def _compare(job: TagJob, pool: ClientPool, platforms: PlatformFilter) -> Check | None:
    if job.platforms:
        platforms = PlatformChoice(choices=job.platforms)
    src, dst = pool.for_repo(job.source.repo), pool.for_repo(job.dest.repo)
    head = retrying(
        lambda: src.head_manifest(job.source.repo, job.source.reference), what=f"HEAD {job.source}"
    )
    if head is None:
        reason = "the source has no such manifest"
        return Check("unreadable", str(job.source), str(job.dest), job.rule, reason=reason)
    want = _expected(job, src, head, platforms)
    if want is None:
        return None
    dst_ref = job.dest.tag or job.dest.digest or ""
    dst_head = retrying(lambda: dst.head_manifest(job.dest.repo, dst_ref), what=f"HEAD {job.dest}")
    row = Check("missing", str(job.source), str(job.dest), job.rule, source_digest=want)
    if dst_head is None:
        if platforms.active and head.media_type not in mediatypes.INDEX_TYPES:
            # A single image whose platform the filter rejects is not copied at all.
            what = f"GET {job.source}"
            raw = retrying(lambda: src.get_manifest(job.source.repo, want), what=what)
            if image_mismatch(src, job.source.repo, raw, parse(raw, str(job.source)), platforms):
                return None
        return row
    got = digest_of(dst, job.dest.repo, dst_ref, dst_head)
    status: Status = "same" if got == want else "different"
    return Check(status, row.source, row.dest, row.rule, want, got)


def digest_of(client: Registry, repo: Repository, reference: str, head: ManifestHead) -> str:
    """The digest a HEAD reported, checked; a GET (hashed here) when it reported none."""
    if head.digest:
        digests.parse(head.digest, f"HEAD {repo}:{reference}: Docker-Content-Digest")
        return head.digest
    return retrying(
        lambda: client.get_manifest(repo, reference), what=f"GET {repo}:{reference}"
    ).digest


def _expected(
    job: TagJob, src: Registry, head: ManifestHead, platforms: PlatformFilter
) -> str | None:
    """The digest ``sync`` would put at the destination; None when it would copy nothing."""
    repo = job.source.repo
    pin = job.source.digest or digest_of(src, repo, job.source.reference, head)
    if not (platforms.active and head.media_type in mediatypes.INDEX_TYPES):
        return pin
    top = retrying(lambda: src.get_manifest(repo, pin), what=f"GET {job.source}")
    parsed = parse(top, str(job.source))
    filtered, dropped = filter_index(top, parsed, platforms)
    if dropped and not parse(filtered, str(job.source)).children:
        return None
    return filtered.digest


# -- rules, scopes and extra tags ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Listing:
    """A rule expanded as ``sync`` would: its images, and the whole source listing."""

    rule: Rule
    jobs: list[TagJob] = field(default_factory=list)
    #: Listed tags outside the grammar, as ``sync`` reports them.
    bad: list[ImageResult] = field(default_factory=list)
    #: Every tag the source listed, all pages read; None when the rule lists nothing
    #: (tag-list and digest rules) or the listing failed.
    listed: frozenset[str] | None = None
    error: str = ""


def list_rule(rule: Rule, pool: ClientPool, *, referrers: bool = False) -> Listing:
    """Expand ``rule`` (:func:`expand_rule`, so the same filters, pairing and skips apply)."""
    seen: list[str] = []
    jobs: list[TagJob] = []
    bad: list[ImageResult] = []
    lists = rule.needs_listing
    try:
        for item in expand_rule(rule, pool, seen.append if lists else None, referrers=referrers):
            (bad if isinstance(item, ImageResult) else jobs).append(item)  # type: ignore[arg-type]
    except CancelledError:
        raise
    except SyncerError as exc:
        return Listing(rule, error=describe(exc))
    return Listing(rule, jobs, bad, frozenset(seen) if lists else None)


def scope(rule: Rule, dest: Destination) -> Callable[[str], bool] | None:
    """Whether a destination tag is within ``rule``'s scope; None when the rule has none."""
    if not rule.needs_listing or dest.tags or dest.digest or dest.repo.is_layout:
        return None  # an OCI layout on disk is written by sync alone: never pruned
    return lambda tag: rule.matches(tag) and rule.filters.check(tag) is None


def written(listings: list[Listing]) -> dict[Repository, set[str]]:
    """The tags each destination repository receives from any rule."""
    out: dict[Repository, set[str]] = {}
    for listing in listings:
        for job in listing.jobs:
            if job.dest.tag is not None:
                out.setdefault(job.dest.repo, set()).add(job.dest.tag)
    return out


def blind(listings: list[Listing]) -> set[Repository]:
    """Destination repositories a rule writes to but whose tags are unknown (its listing failed)."""
    return {
        dest.repo for listing in listings if listing.error for dest in listing.rule.destinations
    }


def dest_tags(pool: ClientPool, repo: Repository) -> list[str]:
    """Every tag of a destination repository, all pages read; none for a repository not there."""
    client = pool.for_repo(repo)
    what = f"list tags of {repo}"
    try:
        listed = list(client.list_tags(repo, fetch=lambda read: retrying(read, what=what)))
    except NotFoundError:
        return []  # distribution: NAME_UNKNOWN for a repository never pushed to
    tags: list[str] = []
    for tag in listed:
        try:
            tags.append(server_tag(tag, repo))
        except BadNameError as exc:
            log.warning("%s", exc)
    return tags


def extras(
    listing: Listing, dest: Destination, tags: list[str], others: set[str], pool: ClientPool
) -> list[Check]:
    """The destination's tags in the rule's scope that the source does not have.

    ``tags`` is the destination's listing and ``others`` the tags any rule writes
    there. Each extra tag's digest is read with a HEAD.
    """
    inside = scope(listing.rule, dest)
    if inside is None or listing.listed is None:
        return []
    client = pool.for_repo(dest.repo)
    found: list[Check] = []
    for tag in tags:
        if tag in listing.listed or tag in others or not inside(tag):
            continue
        ref = ImageRef(dest.repo, tag)
        try:
            head = retrying(lambda t=tag: client.head_manifest(dest.repo, t), what=f"HEAD {ref}")  # type: ignore[misc]
            digest = digest_of(client, dest.repo, tag, head) if head else ""
        except SyncerError as exc:
            found.append(Check("extra", "", str(ref), listing.rule.key, reason=describe(exc)))
            continue
        if head is not None:  # gone since the listing: nothing extra any more
            found.append(Check("extra", "", str(ref), listing.rule.key, dest_digest=digest))
    return found
