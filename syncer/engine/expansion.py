"""Rules into jobs: which (source, destination) images a config rule selects.

:func:`expand_rule` lists a repo-wide or regex rule's tags page by page and
pairs each with every destination; a rule with tag filters
(:mod:`syncer.config.tagfilters`) pairs what they keep once the listing is done. Both
executors import these from :mod:`syncer.engine.copypath`: the embedded feed
(:mod:`syncer.embedded.feed`) and the fleet's ``expand_rule`` task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from syncer.config import tagfilters
from syncer.config.rules import Rule, quote_key
from syncer.engine.jobs import ImageResult, TagJob
from syncer.engine.platforms import created_times
from syncer.errors import BadNameError, ConfigError
from syncer.oci.manifest import PlatformFilter
from syncer.oci.reference import ImageRef, server_tag, shown_tag
from syncer.registry.api import Registry
from syncer.registry.pool import ClientPool
from syncer.registry.referrers import is_fallback_tag
from syncer.registry.retry import retrying

log = logging.getLogger(__name__)

NO_FILTER = PlatformFilter()
#: Told every tag a source lists, as it is read.
Listed = Callable[[str], None]


def expand_rule(
    rule: Rule, pool: ClientPool, on_listed: Listed | None = None, *, referrers: bool = False
) -> Iterator[TagJob | ImageResult]:
    """Every (source, destination) image pair a rule selects, listing tags as pages arrive.

    A listed tag outside the tag grammar is never requested: it comes out as a
    failed :class:`ImageResult` per destination, with the tag escaped. A rule
    with tag filters pairs its tags once the whole listing has been filtered.
    ``on_listed`` sees every tag the source lists, selected or not (verify's scope).

    Where referrers are followed (``referrers``, the run's ``--referrers``, or
    the rule's own ``referrers:``), a listed tag in the Referrers Tag Schema
    form (``sha256-<hex>``) is not an image of the rule: the referrer copy
    writes the destination's index from the referrers that landed. Copied as a
    tag as well, it would race that merge and could list what was left out.
    """
    if not rule.needs_listing:
        yield from explicit_jobs(rule)
        return
    skip = is_fallback_tag if referrers or rule.referrers else None
    if rule.filters.active:
        yield from _filtered(rule, pool, on_listed, skip)
        return
    # Destination tags rename the selected tags by position (image-syncer's
    # order: the registry's listing), so such a rule pairs once it has them all.
    renaming = any(dest.tags for dest in rule.destinations)
    selected: list[ImageRef] = []
    for item in _listed(rule, pool.for_repo(rule.source), on_listed, skip):
        if isinstance(item, ImageResult):
            yield item
        elif renaming:
            selected.append(ImageRef(rule.source, item))
        else:
            yield from _pair(rule, [ImageRef(rule.source, item)])
    if renaming:
        yield from _pair(rule, selected)


def select_tags(
    rule: Rule,
    pool: ClientPool,
    bad: Callable[[ImageResult], None],
    on_listed: Listed | None = None,
    skip: Callable[[str], bool] | None = None,
) -> tagfilters.Selection:
    """The listed tags a filtered rule keeps, and why each other was dropped.

    Tags outside the grammar go to ``bad``; ``latest`` reads created times
    through the rule's ``platforms:`` (see :mod:`syncer.engine.platforms`).
    """
    client = pool.for_repo(rule.source)
    choice = rule.platform_filter or NO_FILTER

    def good() -> Iterator[str]:
        for item in _listed(rule, client, on_listed, skip):
            if isinstance(item, ImageResult):
                bad(item)
            else:
                yield item

    def created(tags: Sequence[str]) -> dict[str, datetime | str]:
        return created_times(client, rule.source, tags, choice)

    return tagfilters.select(rule.filters, good(), created)


def _filtered(
    rule: Rule, pool: ClientPool, on_listed: Listed | None, skip: Callable[[str], bool] | None
) -> Iterator[TagJob | ImageResult]:
    failed: list[ImageResult] = []
    selection = select_tags(rule, pool, failed.append, on_listed, skip)
    yield from failed
    for drop in selection.dropped:
        log.debug("%s: %s dropped %s: %s", rule.key, drop.step, drop.tag, drop.reason)
    log.info(
        "%s: tag filters kept %d of %d tags", rule.key, len(selection.kept), selection.candidates
    )
    yield from _pair(rule, [ImageRef(rule.source, tag) for tag in selection.kept])


def _listed(
    rule: Rule,
    client: Registry,
    on_listed: Listed | None = None,
    skip: Callable[[str], bool] | None = None,
) -> Iterator[str | ImageResult]:
    """The listed tags the rule's key selects and ``skip`` keeps; bad ones as failed results."""
    what = f"list tags of {rule.source}"
    for tag in client.list_tags(rule.source, fetch=lambda read: retrying(read, what=what)):
        if on_listed is not None:
            on_listed(tag)
        if not rule.matches(tag) or (skip is not None and skip(tag)):
            continue
        try:
            server_tag(tag, rule.source)
        except BadNameError as exc:
            log.warning("%s", exc)
            for dest in rule.destinations:
                yield ImageResult(
                    f"{rule.source}:{shown_tag(tag)}",
                    f"{dest.repo}:{shown_tag(tag)}",
                    "failed",
                    str(exc),
                    rule=rule.key,
                )
            continue
        yield tag


def rule_failures(rule: Rule, reason: str) -> list[ImageResult]:
    """A rule whose tags could not be listed: one failed image per destination."""
    return [
        ImageResult(rule.key, str(dest), "failed", reason, rule=rule.key)
        for dest in rule.destinations
    ]


def unique_jobs(jobs: list[TagJob]) -> list[TagJob]:
    """One job per (source, destination), whichever rule named it first."""
    seen: dict[tuple[str, str], TagJob] = {}
    for job in jobs:
        seen.setdefault((str(job.source), str(job.dest)), job)
    return list(seen.values())


def explicit_jobs(rule: Rule) -> list[TagJob]:
    """The jobs of a tag-list or digest rule, which need no registry call."""
    if rule.kind == "digest":
        assert rule.digest is not None
        return _pair(rule, [ImageRef(rule.source, None, rule.digest)])
    if rule.kind == "tags":
        return _pair(rule, [ImageRef(rule.source, t) for t in rule.tags])
    raise ValueError(f"rule {rule.key} needs its tags listed")


def _pair(rule: Rule, sources: list[ImageRef]) -> list[TagJob]:
    jobs: list[TagJob] = []
    for dest in rule.destinations:
        # As image-syncer: destination tags rename the selected tags in the
        # source's listing order, and a destination digest takes one image, so
        # the counts must agree.
        m = 1 if dest.digest is not None else len(dest.tags)
        if m and m != len(sources):
            n, what = len(sources), "digest" if dest.digest is not None else "tag"
            raise ConfigError(
                f"images[{quote_key(rule.key)}]: destination {quote_key(str(dest))}: the source "
                f"has {n} selected tag{'s' * (n != 1)} but {m} destination {what}{'s' * (m != 1)}"
            )
        for i, src in enumerate(sources):
            if dest.digest is not None:
                # Pushed by that digest: resolve() checks the pulled image has it.
                target = ImageRef(dest.repo, None, dest.digest)
            elif dest.tags:
                target = ImageRef(dest.repo, dest.tags[i])
            elif src.tag is not None:
                target = ImageRef(dest.repo, src.tag)
            else:
                target = ImageRef(dest.repo, None, src.digest)
            jobs.append(TagJob(src, target, rule.key, rule.platforms))
    return jobs
