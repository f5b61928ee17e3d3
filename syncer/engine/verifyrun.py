"""Verify (and prune) a whole config in one process: rules listed, images checked, concurrently.

:func:`verify_config` is ``syncer verify`` and the prune pass of ``syncer
sync --prune``; the fleet runs the same pieces per rule
(:mod:`syncer.fleet.steps.verifysteps`). Work is bounded like ``sync``: at
most ``--proc`` rules listed and images checked at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from syncer.config.files import SyncConfig
from syncer.config.rules import quote_key
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.expansion import unique_jobs
from syncer.engine.options import SyncOptions
from syncer.engine.prune import Deleter, decide, kept_digests
from syncer.engine.referrers import Follower, ReferrerPolicy, rule_policies
from syncer.engine.verify import (
    STATUSES,
    Check,
    Listing,
    blind,
    check_image,
    dest_tags,
    extras,
    list_rule,
    scope,
    written,
)
from syncer.errors import SyncerError, describe
from syncer.oci.reference import ImageRef, Repository
from syncer.registry.pool import ClientPool

log = logging.getLogger(__name__)

#: The ``--output json`` schema's name; bumped only by a change that breaks readers.
SCHEMA = "syncer.verify/v1"


@dataclass(frozen=True, slots=True)
class Prune:
    """What ``--prune`` asks: delete (or only show) extra tags, at most ``limit`` of them."""

    limit: int
    delete: bool = True


@dataclass(slots=True)
class Report:
    """Every check of a run, and what pruning did."""

    checks: list[Check] = field(default_factory=list)
    #: Why a prune run deleted nothing at all (``--prune-max``), or "".
    refused: str = ""
    pruning: bool = False

    def totals(self) -> dict[str, int]:
        """How many checks have each status, every status present."""
        out: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for check in self.checks:
            out[check.status] += 1
        return out

    @property
    def drifted(self) -> bool:
        """Whether anything is not ``same``."""
        return any(check.status != "same" for check in self.checks)

    def pruned(self) -> dict[str, int]:
        """How many extra tags each prune outcome has."""
        out = dict.fromkeys(("delete", "deleted", "kept", "failed"), 0)
        for check in self.checks:
            if check.prune:
                out[check.prune] += 1
        return out

    def ordered(self) -> list[Check]:
        """The checks by rule, then destination."""
        return sorted(self.checks, key=_order)

    @property
    def prune_failed(self) -> bool:
        """Whether a prune was refused or a deletion failed."""
        return bool(self.refused) or any(c.prune == "failed" for c in self.checks)

    def prune_dict(self) -> dict[str, Any]:
        """What ``sync --prune --output json`` adds: the counts, the refusal, each extra tag."""
        rows = [c.to_dict() for c in self.ordered() if c.prune]
        return {**self.pruned(), "refused": self.refused, "tags": rows}

    def to_dict(self) -> dict[str, Any]:
        """The documented ``--output json`` form (docs/verify-prune-webhook.md)."""
        return {
            "schema": SCHEMA,
            "totals": self.totals(),
            "prune": {**self.pruned(), "refused": self.refused} if self.pruning else None,
            "checks": [c.to_dict() for c in self.ordered()],
        }


def referrer_follower(
    config: SyncConfig, options: SyncOptions, pool: ClientPool
) -> Follower | None:
    """A follower of ``--referrers`` (or the rules' ``referrers:``), or None when none is asked.

    Its marks are its own: verify asks the destination, never a cache of what it listed.
    """
    rules = rule_policies(config.rules)
    if not options.referrers and not rules:
        return None
    policy = ReferrerPolicy(options.referrers, options.referrer_types)
    return Follower(pool, policy, rules, marks=MemoryBlobCache())


def _order(check: Check) -> tuple[str, str, str]:
    return (check.rule, check.dest, check.source)


def listing_failures(listing: Listing) -> list[Check]:
    """Rows for what a rule's expansion could not read: the rule itself, or a bad tag."""
    rule = listing.rule
    rows = [Check("unreadable", r.source, r.dest, rule.key, reason=r.reason) for r in listing.bad]
    if listing.error:
        rows += [
            Check("unreadable", rule.key, str(d), rule.key, reason=listing.error)
            for d in rule.destinations
        ]
    return rows


def verify_config(
    config: SyncConfig,
    options: SyncOptions,
    pool: ClientPool,
    *,
    prune: Prune | None = None,
    images: bool = True,
) -> Report:
    """Check every image the config selects and find extra tags; with ``prune``, decide and delete.

    ``images=False`` skips the per-image checks (the prune pass after a sync).
    """
    report = Report(pruning=prune is not None)
    for bad in config.broken:
        for dest in bad.destinations:
            report.checks.append(Check("unreadable", bad.key, dest, bad.key, reason=bad.reason))
    with ThreadPoolExecutor(options.proc, "verify") as ex:
        listings = list(
            ex.map(lambda r: list_rule(r, pool, referrers=options.referrers), config.rules)
        )
        for listing in listings:
            report.checks += listing_failures(listing)
        if images:
            jobs = unique_jobs([job for listing in listings for job in listing.jobs])
            follower = referrer_follower(config, options, pool)
            found = ex.map(lambda j: check_image(j, pool, options.platforms, follower), jobs)
            report.checks += [c for rows in found for c in rows]
        extra = find_extras(listings, pool, ex.map)
        report.checks += [c for c in extra if c.status != "extra"]
        candidates = [c for c in extra if c.status == "extra"]
        if prune is None:
            report.checks += candidates
            return report
        protected = {c.source_digest for c in report.checks if c.source_digest}
        decided, kept_of = decide_all(candidates, listings, pool, report.checks)
        rows, report.refused = execute(decided, kept_of, prune, pool, protected, ex.map)
        report.checks += rows
    return report


Mapper = Callable[..., Iterable[Any]]


def find_extras(
    listings: list[Listing],
    pool: ClientPool,
    mapper: Mapper = map,
    mine: list[Listing] | None = None,
) -> list[Check]:
    """Every scoped rule's extra tags (deduplicated), or an unreadable row per failed listing.

    ``mine`` limits the search to those rules; the others' tags are never extra.
    """
    others = written(listings)
    wanted = [
        (listing, dest)
        for listing in (listings if mine is None else mine)
        if listing.listed is not None
        for dest in listing.rule.destinations
        if scope(listing.rule, dest) is not None
    ]
    repos = sorted({dest.repo for _, dest in wanted}, key=str)
    tags: dict[Repository, list[str] | str] = dict(
        zip(repos, mapper(_tags_or_error(pool), repos), strict=True)
    )

    def one(item: tuple[Listing, Any]) -> list[Check]:
        listing, dest = item
        listed = tags[dest.repo]
        if isinstance(listed, str):
            return [Check("unreadable", "", str(dest.repo), listing.rule.key, reason=listed)]
        return extras(listing, dest, listed, others.get(dest.repo, set()), pool)

    out: dict[tuple[str, str], Check] = {}
    for rows in mapper(one, wanted):
        for row in rows:
            out.setdefault((row.dest, row.status), row)
    return list(out.values())


def _tags_or_error(pool: ClientPool) -> Callable[[Repository], list[str] | str]:
    def read(repo: Repository) -> list[str] | str:
        try:
            return dest_tags(pool, repo)
        except SyncerError as exc:
            return f"cannot list the destination's tags: {describe(exc)}"

    return read


def why_kept(listings: list[Listing], repo: Repository, rule_key: str) -> str:
    """Why no extra tag of ``rule_key`` in ``repo`` may be deleted, or "" when they may."""
    if repo in blind(listings):
        return f"kept: a rule writing to {repo} could not be listed"
    listing = next(x for x in listings if x.rule.key == rule_key)
    inside = [scope(listing.rule, d) for d in listing.rule.destinations if d.repo == repo]
    listed = listing.listed or frozenset()
    if not any(f is not None and any(f(t) for t in listed) for f in inside):
        return f"kept: the source listed no tag in the scope of {quote_key(rule_key)}"
    return ""


def decide_all(
    candidates: list[Check],
    listings: list[Listing],
    pool: ClientPool,
    checked: Iterable[Check] = (),
) -> tuple[list[Check], dict[Repository, dict[str, str]]]:
    """Mark each extra tag ``delete`` or ``kept``; return them and each repository's kept tags.

    The destination digests ``checked`` rows read are not read again.
    """
    known = {c.dest: c.dest_digest for c in checked if c.dest_digest and c.status != "extra"}
    by_repo: dict[Repository, list[Check]] = {}
    for check in candidates:
        by_repo.setdefault(ImageRef.parse(check.dest).repo, []).append(check)
    decided: list[Check] = []
    kept_of: dict[Repository, dict[str, str]] = {}
    for repo, found in by_repo.items():
        try:
            names = {str(ImageRef.parse(c.dest).tag) for c in found}
            others = set(dest_tags(pool, repo)) - names
            kept_of[repo] = kept_digests(pool, repo, others, known)
        except SyncerError as exc:
            why = f"kept: the destination's other tags could not be read ({describe(exc)})"
            decided += decide(found, {}, why)
            continue
        for rule_key in sorted({c.rule for c in found}):
            mine = [c for c in found if c.rule == rule_key]
            decided += decide(mine, kept_of[repo], why_kept(listings, repo, rule_key))
    return decided, kept_of


def execute(
    decided: list[Check],
    kept_of: dict[Repository, dict[str, str]],
    prune: Prune,
    pool: ClientPool,
    protected: set[str],
    mapper: Mapper = map,
) -> tuple[list[Check], str]:
    """Delete the ``delete``-marked tags unless more than ``prune.limit``; rows and any refusal."""
    doomed = [c for c in decided if c.prune == "delete"]
    if len(doomed) > prune.limit:
        refused = (
            f"prune refused: {len(doomed)} tags would be deleted, more than "
            f"--prune-max {prune.limit}; nothing was deleted"
        )
        return decided, refused
    if not prune.delete or not doomed:
        return decided, ""
    deleter = Deleter(pool, protected)
    done = list(
        mapper(lambda c: deleter.delete(c, kept_of.get(ImageRef.parse(c.dest).repo, {})), doomed)
    )
    return [c for c in decided if c.prune != "delete"] + done, ""
