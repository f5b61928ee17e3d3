"""Referrers (signatures, SBOMs, attestations) follow the images they refer to.

For every manifest an image job copies (its top manifest and, for an index,
each platform child), :class:`Follower` finds at the source what refers to it:

* the OCI 1.1 referrers API, ``GET /v2/<name>/referrers/<digest>``;
* where that answers 404, the Referrers Tag Schema's ``sha256-<hex>`` index tag;
* cosign's tags, ``sha256-<hex>.sig``, ``.att`` and ``.sbom``.

Each referrer becomes a :class:`TagJob` copied by digest like any image, so
the manifest keeps its ``subject`` and its bytes; referrers of referrers are
followed up to a depth. After a referrer lands at a destination without the
API, :meth:`Follower.pushed` adds it to the destination's fallback index,
merging with what is already listed (spec: "Pushing Manifests with Subject").

Cheap on a no-op: a source without the API is asked once per registry, and
the tag schema is read from one tag listing per repository, so an image
without referrers costs no request there; with the API, one GET per manifest.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from syncer import defaults, digests
from syncer.engine import Resolved
from syncer.errors import UnsupportedError
from syncer.jobs import TagJob
from syncer.manifest import parse
from syncer.reference import ImageRef, Repository
from syncer.registry import referrers as api
from syncer.registry.pool import ClientPool
from syncer.retry import retrying
from syncer.rules import Rule

log = logging.getLogger(__name__)

#: cosign's tag suffixes (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md).
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")


@dataclass(frozen=True, slots=True)
class ReferrerPolicy:
    """Whether to follow referrers, of which artifact types (all when empty), how deep."""

    enabled: bool = False
    types: tuple[str, ...] = ()
    depth: int = defaults.REFERRERS_DEPTH

    def wants(self, artifact_type: str) -> bool:
        """Whether a referrer of ``artifact_type`` passes the type filter."""
        return not self.types or artifact_type in self.types


@dataclass(frozen=True, slots=True)
class Found:
    """Why a referrer job exists: its subject, its list entry (none for cosign tags), depth."""

    subject: str
    entry: api.ReferrerEntry | None
    depth: int

    def to_text(self) -> str:
        """Compact JSON, for a task message."""
        entry = self.entry.to_json() if self.entry is not None else None
        return json.dumps({"subject": self.subject, "entry": entry, "depth": self.depth})

    @classmethod
    def from_text(cls, text: str) -> Found:
        """Inverse of :meth:`to_text`; a malformed one is an :class:`UnsupportedError`."""
        try:
            doc = json.loads(text)
            subject, depth, raw = doc["subject"], doc["depth"], doc["entry"]
        except (ValueError, TypeError, KeyError) as exc:
            raise UnsupportedError(f"referrer record does not decode: {exc!r:.80}") from exc
        digests.parse(str(subject), "referrer subject")
        if type(depth) is not int:
            raise UnsupportedError("referrer record: depth is not a number")
        entry = None if raw is None else api.ReferrerEntry.from_json(raw, "referrer record")
        return cls(str(subject), entry, depth)


#: Holds the fallback index of (destination repository, subject) while it is merged.
Guard = Callable[[Repository, str], AbstractContextManager[object]]


def rule_policies(rules: Iterable[Rule]) -> dict[str, list[str]]:
    """The rules with ``referrers:`` set, by key: their artifact types (all when empty)."""
    return {r.key: list(r.referrer_types) for r in rules if r.referrers}


class Follower:
    """Turns copied images into referrer jobs, and keeps fallback indexes up to date.

    ``rules`` maps the keys of rules with ``referrers:`` to their types
    (:func:`rule_policies`); ``guard`` serialises fallback index merges (an
    in-process lock unless the fleet passes a Redis one).
    """

    def __init__(
        self,
        pool: ClientPool,
        policy: ReferrerPolicy,
        rules: Mapping[str, Sequence[str]] | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.pool, self.policy = pool, policy
        self._rules = dict(rules or {})
        self._found: dict[TagJob, Found] = {}
        self._tags: dict[Repository, frozenset[str]] = {}
        self._no_api: set[str] = set()
        self._lock = threading.Lock()
        self._writing: dict[tuple[Repository, str], threading.Lock] = {}
        self._guard = guard or self._local_guard

    def policy_for(self, job: TagJob) -> ReferrerPolicy:
        """The job's rule's ``referrers:`` when set, else the command line's."""
        types = self._rules.get(job.rule)
        if types is not None:
            return ReferrerPolicy(True, tuple(types) or self.policy.types, self.policy.depth)
        return self.policy

    def is_referrer(self, job: TagJob) -> bool:
        """Whether ``job`` copies a referrer this follower found."""
        return job in self._found

    def found(self, job: TagJob) -> Found | None:
        """Why this follower handed out ``job``, if it did."""
        return self._found.get(job)

    def follow(self, job: TagJob, resolved: Resolved) -> list[TagJob]:
        """The referrer jobs of a resolved image not handed out before (one process)."""
        found = self.find(job, resolved, self._found.get(job))
        with self._lock:
            new = {j: f for j, f in found.items() if j not in self._found}
            self._found.update(new)
        return list(new)

    def find(self, job: TagJob, resolved: Resolved, found: Found | None) -> dict[TagJob, Found]:
        """Every referrer job of a resolved image; ``found`` says what ``job`` itself is."""
        policy = self.policy_for(job)
        depth = found.depth if found is not None else 0
        if not policy.enabled or depth >= policy.depth or (found and found.entry is None):
            return {}
        if resolved.skip and resolved.skip != "unchanged":
            return {}
        out: dict[TagJob, Found] = {}
        for subject in self._subjects(job, resolved):
            out.update(self._jobs_of(job, subject, depth + 1, policy))
        return out

    def pushed(self, job: TagJob, found: Found | None = None) -> None:
        """After ``job`` landed: add it to its subject's fallback index where there is no API."""
        found = found or self._found.get(job)
        if found is None or found.entry is None:
            return
        dst, repo = self.pool.for_repo(job.dest.repo), job.dest.repo
        if repo.api_host not in self._no_api:
            listed = retrying(
                lambda: api.list_api(dst, repo, found.subject), what=f"referrers {repo}"
            )
            if listed is not None:
                return  # the registry keeps its own list from the pushed subject
            with self._lock:
                self._no_api.add(repo.api_host)
        entry = found.entry
        with self._guard(repo, found.subject):
            wrote = retrying(
                lambda: api.write_fallback(dst, repo, found.subject, [entry]),
                what=f"PUT {repo}:{api.fallback_tag(found.subject)}",
            )
        if wrote:
            log.info("listed %s in %s:%s", entry.digest[:19], repo, api.fallback_tag(found.subject))

    @contextmanager
    def _local_guard(self, repo: Repository, subject: str) -> Iterator[None]:
        with self._lock:
            lock = self._writing.setdefault((repo, subject), threading.Lock())
        with lock:
            yield

    # -- discovery -------------------------------------------------------------------
    def _subjects(self, job: TagJob, resolved: Resolved) -> list[str]:
        """The digests the copy covers: every manifest pushed, or the unchanged tree."""
        if not resolved.skip:
            return list(dict.fromkeys(raw.digest for _, raw in resolved.pushes))
        top = resolved.source_digest
        if not digests.is_digest(top) or not self._may_have_children_referrers(job):
            return [top] if digests.is_digest(top) else []
        # The destination holds these very bytes: read them there, not from the source.
        dst, repo = self.pool.for_repo(job.dest.repo), job.dest.repo
        raw = retrying(lambda: dst.get_manifest(repo, top), what=f"GET {repo}@{top}")
        children = parse(raw, f"{repo}@{top}").children
        return [top, *(c.digest for c in children)]

    def _may_have_children_referrers(self, job: TagJob) -> bool:
        """Whether an unchanged image's children need reading: an API, or tag-schema tags."""
        repo = job.source.repo
        if repo.api_host not in self._no_api:
            return True
        return any(t.startswith(("sha256-", "sha512-")) for t in self._tag_list(repo))

    def _jobs_of(
        self, job: TagJob, subject: str, depth: int, policy: ReferrerPolicy
    ) -> dict[TagJob, Found]:
        src_repo = job.source.repo
        src = self.pool.for_repo(src_repo)
        entries: list[api.ReferrerEntry] | None = None
        if src_repo.api_host not in self._no_api:
            hint = policy.types[0] if len(policy.types) == 1 else ""
            entries = retrying(
                lambda: api.list_api(src, src_repo, subject, hint), what=f"referrers {src_repo}"
            )
            if entries is None:
                with self._lock:
                    self._no_api.add(src_repo.api_host)
        tags = self._tag_list(src_repo) if entries is None or not policy.types else frozenset()
        tag = api.fallback_tag(subject)
        if entries is None:
            entries = []
            if tag in tags:
                _, entries = retrying(
                    lambda: api.read_fallback(src, src_repo, subject), what=f"GET {src_repo}:{tag}"
                )
        out = {
            TagJob(
                ImageRef(src_repo, None, e.digest),
                ImageRef(job.dest.repo, None, e.digest),
                job.rule,
            ): Found(subject, e, depth)
            for e in entries
            if policy.wants(e.artifact_type)
        }
        if not policy.types:  # cosign's tags carry no artifactType to filter on
            for suffix in COSIGN_SUFFIXES:
                if tag + suffix in tags:
                    ref = TagJob(
                        job.source.with_tag(tag + suffix), job.dest.with_tag(tag + suffix), job.rule
                    )
                    out[ref] = Found(subject, None, depth)
        return out

    def _tag_list(self, repo: Repository) -> frozenset[str]:
        """The source repository's tags, listed once per run."""
        with self._lock:
            known = self._tags.get(repo)
        if known is None:
            client = self.pool.for_repo(repo)
            known = frozenset(
                client.list_tags(repo, fetch=lambda read: retrying(read, what=f"tags {repo}"))
            )
            with self._lock:
                self._tags[repo] = known
        return known
